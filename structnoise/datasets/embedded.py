"""Embedded default datasets: tiles of images that ship inside scikit-image, no download.

``embedded-stripe`` and ``embedded-checkerboard`` stand in for the paper's FFHQ-Stripe and
FFHQ-Checkerboard when FFHQ is not on disk. They are built from photographs bundled with
scikit-image (checked to load offline; :mod:`skimage.data` downloads some other images,
which are not used):

* colour images are made grayscale by averaging their channels and every image is
  scaled to ``[0, 1]`` by dividing by 255 (all sources are 8-bit), as for FFHQ;
* each source is cut into a grid of non-overlapping 128x128 tiles, centred in the image;
* training tiles: every grid tile of the training sources whose clean standard deviation
  is at least :data:`MIN_TILE_STD` (flat tiles carry nothing to learn), at most
  :data:`MAX_TILES_PER_SOURCE` per source (evenly spaced);
* test tiles: the :data:`TEST_TILES_PER_SOURCE` grid tiles with the largest standard
  deviation of each *held-out* source image (sources never used for training).

The noise of every tile is drawn with its own seed, derived from :data:`EMBEDDED_SEED`,
the dataset name, the split and the tile index, so it never depends on other tiles.
The result is cached as one ``.npz`` file per dataset under
``<data cache>/embedded/`` (written atomically) and rebuilt when the recipe changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from structnoise.datasets.base import DatasetEntry, DatasetKind, NoisyDataset
from structnoise.datasets.cache import data_dir
from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.synthetic import stripe
from structnoise.utils import atomic_path, derive_seed

#: Tile size in pixels (FFHQ thumbnails are 128x128).
TILE = 128
#: Base seed of the embedded datasets' noise.
EMBEDDED_SEED = 20240601
#: Bump when the recipe changes; cached files of another version are rebuilt.
EMBEDDED_VERSION = 1
#: Training tiles flatter than this (clean std, signal in [0, 1]) are dropped.
MIN_TILE_STD = 0.05
#: At most this many training tiles per source image.
MAX_TILES_PER_SOURCE = 16
#: Test tiles per held-out source image.
TEST_TILES_PER_SOURCE = 4

#: scikit-image images used for training (all ship inside the package).
TRAIN_SOURCES = (
    "camera",
    "astronaut",
    "coffee",
    "rocket",
    "retina",
    "brick",
    "grass",
    "gravel",
    "text",
    "clock",
)
#: Held-out scikit-image images, used only for the test set.
TEST_SOURCES = ("chelsea", "coins", "immunohistochemistry", "cell")

_CITATION = (
    "Tiles of images bundled with scikit-image (van der Walt et al., scikit-image: image "
    "processing in Python, PeerJ 2014); noise as in Salmon & Krull, Unsupervised "
    "Structured Noise Removal with Variational Lossy Autoencoder, section 5.1."
)
_LICENCE = (
    "Public domain / CC0 / no known copyright restrictions, as stated for each source in "
    "the docstrings of skimage.data (camera, coffee, retina, brick, grass, gravel, chelsea, "
    "cell: CC0; astronaut, rocket, text, clock: public domain; coins, "
    "immunohistochemistry: no known copyright restrictions)."
)

#: The noise of each embedded dataset, the direction it is correlated along, and the
#: paper dataset it stands in for.
_NOISE: dict[str, tuple[Callable, str, str]] = {
    "embedded-stripe": (stripe, "horizontal", "FFHQ - Stripe"),
    "embedded-checkerboard": (checkerboard, "vertical", "FFHQ - Checkerboard"),
}


def _load_source(name: str) -> np.ndarray:
    """A scikit-image sample image as float32 grayscale in [0, 1]."""
    import skimage.data

    img = np.asarray(getattr(skimage.data, name)())
    if img.dtype != np.uint8:
        raise RuntimeError(f"skimage.data.{name}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 3:
        img = img[..., :3].astype(np.float32).mean(axis=-1)
    return (img.astype(np.float32) / np.float32(255)).astype(np.float32)


def _grid_tiles(img: np.ndarray) -> np.ndarray:
    """All non-overlapping TILE x TILE tiles of a centred grid, row by row."""
    h, w = img.shape
    ny, nx = h // TILE, w // TILE
    oy, ox = (h - ny * TILE) // 2, (w - nx * TILE) // 2
    tiles = [
        img[oy + i * TILE : oy + (i + 1) * TILE, ox + j * TILE : ox + (j + 1) * TILE]
        for i in range(ny)
        for j in range(nx)
    ]
    return np.stack(tiles) if tiles else np.zeros((0, TILE, TILE), np.float32)


def clean_tiles() -> dict[str, np.ndarray]:
    """Build the clean training and test tiles (deterministic, no noise).

    Returns
    -------
    dict
        ``{"train": (N, 128, 128), "test": (16, 128, 128), "train_source": (N,),
        "test_source": (16,)}``; the tiles are float32 in ``[0, 1]``, the sources are
        indices into :data:`TRAIN_SOURCES` / :data:`TEST_SOURCES`.
    """
    train, train_src = [], []
    for k, name in enumerate(TRAIN_SOURCES):
        tiles = _grid_tiles(_load_source(name))
        tiles = tiles[tiles.std(axis=(1, 2)) >= MIN_TILE_STD]
        if len(tiles) > MAX_TILES_PER_SOURCE:
            keep = np.linspace(0, len(tiles) - 1, MAX_TILES_PER_SOURCE).round().astype(int)
            tiles = tiles[keep]
        train.append(tiles)
        train_src += [k] * len(tiles)
    test, test_src = [], []
    for k, name in enumerate(TEST_SOURCES):
        tiles = _grid_tiles(_load_source(name))
        order = np.argsort(-tiles.std(axis=(1, 2)), kind="stable")[:TEST_TILES_PER_SOURCE]
        test.append(tiles[np.sort(order)])
        test_src += [k] * len(order)
    return {
        "train": np.concatenate(train).astype(np.float32),
        "test": np.concatenate(test).astype(np.float32),
        "train_source": np.asarray(train_src, dtype=np.int16),
        "test_source": np.asarray(test_src, dtype=np.int16),
    }


def _add_noise(name: str, split: str, clean: np.ndarray, **noise_kwargs) -> np.ndarray:
    fn = _NOISE[name][0]
    out = np.empty_like(clean, dtype=np.float32)
    for i, tile in enumerate(clean):
        out[i] = fn(
            tile, np.random.default_rng(derive_seed(EMBEDDED_SEED, name, split, i)), **noise_kwargs
        )
    return out


def cache_path(name: str) -> Path:
    """Where the built dataset ``name`` is cached.

    Parameters
    ----------
    name : str
        ``"embedded-stripe"`` or ``"embedded-checkerboard"``.

    Returns
    -------
    pathlib.Path
        ``<data cache>/embedded/<name>-v<version>.npz``.
    """
    return data_dir() / "embedded" / f"{name}-v{EMBEDDED_VERSION}.npz"


def _recipe(name: str, noise_kwargs: dict) -> str:
    return json.dumps(
        {
            "name": name,
            "version": EMBEDDED_VERSION,
            "seed": EMBEDDED_SEED,
            "train_sources": TRAIN_SOURCES,
            "test_sources": TEST_SOURCES,
            "noise": noise_kwargs,
        },
        sort_keys=True,
    )


def build_embedded(name: str, *, rebuild: bool = False, **noise_kwargs) -> NoisyDataset:
    """Build (or load from the cache) an embedded dataset.

    Parameters
    ----------
    name : {"embedded-stripe", "embedded-checkerboard"}
        Which noise to apply.
    rebuild : bool
        Ignore the cache and build again.
    **noise_kwargs
        Non-default parameters of the noise generator (:func:`stripe` or
        :func:`checkerboard`); a dataset built with other parameters is cached beside the
        default one, under a name with a hash of the parameters.

    Returns
    -------
    NoisyDataset
        See :func:`embedded_stripe`.
    """
    if name not in _NOISE:
        raise ValueError(f"unknown embedded dataset {name!r}; known: {', '.join(_NOISE)}")
    recipe = _recipe(name, noise_kwargs)
    path = cache_path(name)
    if noise_kwargs:
        path = path.with_name(f"{path.stem}-{derive_seed(0, recipe):010d}.npz")
    arrays = None
    if path.exists() and not rebuild:
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["recipe"]) == recipe:
                    arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError):
            arrays = None  # unreadable cache: rebuild it
    if arrays is None:
        tiles = clean_tiles()
        arrays = {
            "train_clean": tiles["train"],
            "test_clean": tiles["test"],
            "train_noisy": _add_noise(name, "train", tiles["train"], **noise_kwargs),
            "test_noisy": _add_noise(name, "test", tiles["test"], **noise_kwargs),
            "train_source": tiles["train_source"],
            "test_source": tiles["test_source"],
        }
        with atomic_path(path) as tmp:
            np.savez(tmp, recipe=np.array(recipe), **arrays)
    axis = _NOISE[name][1]
    kind = "stripe (horizontal)" if axis == "horizontal" else "checkerboard (vertical)"
    return NoisyDataset(
        name=name,
        train_noisy=arrays["train_noisy"],
        test_noisy=arrays["test_noisy"],
        test_clean=arrays["test_clean"],
        train_clean=arrays["train_clean"],
        axis=axis,
        citation=_CITATION,
        licence=_LICENCE,
        description=(
            f"{len(arrays['train_noisy'])} training and {len(arrays['test_noisy'])} test "
            f"128x128 grayscale tiles of scikit-image sample images (test tiles from "
            f"{len(TEST_SOURCES)} held-out images) with the paper's synthetic {kind} noise"
        ),
    )


def embedded_stripe(*, rebuild: bool = False, **noise_kwargs) -> NoisyDataset:
    """Embedded stand-in for *FFHQ - Stripe*: scikit-image tiles with stripe noise.

    No download: 128x128 tiles of photographs bundled with scikit-image (module
    docstring), clean signal in ``[0, 1]``, noise of :func:`structnoise.datasets.synthetic.stripe`
    (the paper's constants) from a fixed seed. Built on first use (a second or so) and
    cached under the data cache (``$STRUCTNOISE_DATA``).

    Parameters
    ----------
    rebuild : bool
        Ignore the cache and build again.
    **noise_kwargs
        Non-default parameters for :func:`~structnoise.datasets.synthetic.stripe`.

    Returns
    -------
    NoisyDataset
        ``train_noisy``/``train_clean``: ``(N, 128, 128)`` float32 with N about 120
        tiles from 10 training images; ``test_noisy``/``test_clean``: ``(16, 128, 128)``
        float32, 4 tiles from each of 4 held-out images; ``axis="horizontal"``.

    Notes
    -----
    Licence: that of the scikit-image sample images, public domain, CC0 or "no known
    copyright restrictions" as each ``skimage.data`` docstring states. Citation: van der
    Walt et al., *scikit-image: image processing in Python*, PeerJ 2014; noise from
    Salmon & Krull (DVLAE), section 5.1.
    """
    return build_embedded("embedded-stripe", rebuild=rebuild, **noise_kwargs)


def embedded_checkerboard(*, rebuild: bool = False, **noise_kwargs) -> NoisyDataset:
    """Embedded stand-in for *FFHQ - Checkerboard*: scikit-image tiles with checkerboard noise.

    Same tiles as :func:`embedded_stripe`; noise of
    :func:`structnoise.datasets.synthetic.checkerboard` (inverse signal-dependent Gaussian
    noise, default reading, plus the period-4 ``+-0.1`` pattern down the columns) from a
    fixed seed.

    Parameters
    ----------
    rebuild : bool
        Ignore the cache and build again.
    **noise_kwargs
        Non-default parameters for :func:`~structnoise.datasets.synthetic.checkerboard`
        (e.g. ``reading="variance"``, ``floor=0.2``).

    Returns
    -------
    NoisyDataset
        Shapes as :func:`embedded_stripe`, ``axis="vertical"``.

    Notes
    -----
    Licence and citation as :func:`embedded_stripe`.
    """
    return build_embedded("embedded-checkerboard", rebuild=rebuild, **noise_kwargs)


#: The catalogue entries of the embedded datasets (:mod:`structnoise.datasets.catalog`).
ENTRIES: tuple[DatasetEntry, ...] = tuple(
    DatasetEntry(
        name=name,
        loader=loader,
        kind=DatasetKind.EMBEDDED,
        source="scikit-image sample images (bundled)",
        size="116 train + 16 test tiles, 128x128",
        axis=_NOISE[name][1],
        paper_name=f"(stand-in for {_NOISE[name][2]})",
        cache=cache_path,
    )
    for name, loader in (
        ("embedded-stripe", embedded_stripe),
        ("embedded-checkerboard", embedded_checkerboard),
    )
)
