"""Embedded 3-D default dataset: procedural volumes with z-correlated read-out noise.

``embedded-volume`` needs no download and no bundled file: its clean volumes are drawn
from a fixed seed, the noise is :func:`structnoise.datasets.volume_noise.readout_volume`
(shot and read noise plus a camera read-out pattern correlated along ``z``). It is the
small default for 3-D work: :data:`SHAPE` = 16 x 64 x 64 voxels per volume,
:data:`N_TRAIN` training and :data:`N_TEST` test volumes.

Clean volume (signal in ``[0, 1]``), for volume ``i`` of a split, from its own seed:

* :data:`N_BLOBS` Gaussian blobs (cells, vesicles): random centres, peak heights in
  ``[0.3, 1]``, sigma ``1.5..3`` voxels in ``y`` and ``x`` and ``1..2`` planes in ``z``
  (a coarser axial sampling, as in a z-stack);
* :data:`N_FILAMENTS` filaments: straight segments between two random points, drawn as
  points every half voxel with heights in ``[0.4, 0.8]``, blurred by a Gaussian of sigma
  1 voxel (and 0.7 planes in ``z``);
* the sum plus a background of :data:`BACKGROUND`, clipped to ``[0, 1]``.

Training and test volumes come from different seeds (derived from
:data:`VOLUME_SEED`, the dataset name, the split and the index), so no test volume is in
the training set. The arrays of the loaded :class:`~structnoise.datasets.base.NoisyDataset`
are ``(N, Z, Y, X)``: one volume per sample, the layout ``structnoise`` calls ``SZYX``.
The built dataset is cached as one ``.npz`` file under ``<data cache>/embedded/``
(written atomically) and rebuilt when the recipe changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from structnoise.datasets.base import DatasetEntry, DatasetKind, NoisyDataset
from structnoise.datasets.cache import data_dir
from structnoise.datasets.volume_noise import readout_volume
from structnoise.utils import atomic_path, derive_seed

#: Dataset name in the catalogue.
NAME = "embedded-volume"
#: ``(Z, Y, X)`` of every volume.
SHAPE = (16, 64, 64)
#: Training volumes.
N_TRAIN = 12
#: Test volumes.
N_TEST = 4
#: Base seed of the clean volumes and their noise.
VOLUME_SEED = 20261207
#: Bump when the recipe changes; cached files of another version are rebuilt.
VOLUME_VERSION = 1
#: Blobs per volume.
N_BLOBS = 40
#: Filaments per volume.
N_FILAMENTS = 8
#: Constant background of the clean signal.
BACKGROUND = 0.1
#: The noise's direction: correlated along z.
AXIS = "z"

_CITATION = (
    "Procedural volumes of structnoise (seeded blobs and filaments); noise after Salmon & "
    "Krull, Unsupervised Structured Noise Removal with Variational Lossy Autoencoder, "
    "section 5.1, with a z-correlated read-out pattern (structnoise.datasets.volume_noise)."
)
_LICENCE = "Generated data, no restrictions (CC0)."


def clean_volume(rng) -> np.ndarray:
    """One procedural clean volume of :data:`SHAPE` (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator or int
        Random generator or seed.

    Returns
    -------
    numpy.ndarray
        float32 ``(Z, Y, X)`` in ``[0, 1]``.
    """
    rng = np.random.default_rng(rng)
    nz, ny, nx = SHAPE
    vol = np.zeros(SHAPE)
    zz, yy, xx = np.ogrid[:nz, :ny, :nx]
    for _ in range(N_BLOBS):
        cz, cy, cx = rng.uniform(0, nz), rng.uniform(0, ny), rng.uniform(0, nx)
        sz, sy, sx = rng.uniform(1, 2), rng.uniform(1.5, 3), rng.uniform(1.5, 3)
        height = rng.uniform(0.3, 1.0)
        d2 = ((zz - cz) / sz) ** 2 + ((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2
        vol += height * np.exp(-0.5 * d2)
    lines = np.zeros(SHAPE)
    for _ in range(N_FILAMENTS):
        a = rng.uniform((0, 0, 0), (nz - 1, ny - 1, nx - 1))
        b = rng.uniform((0, 0, 0), (nz - 1, ny - 1, nx - 1))
        n = int(np.ceil(2 * np.linalg.norm(b - a))) + 1
        pts = np.rint(a + np.linspace(0, 1, n)[:, None] * (b - a)).astype(int)
        pts = np.unique(pts, axis=0)
        lines[tuple(pts.T)] = np.maximum(lines[tuple(pts.T)], rng.uniform(0.4, 0.8))
    # a blurred one-voxel line peaks at about 1/(2 pi sigma_y sigma_x): scale it back
    vol += gaussian_filter(lines, sigma=(0.7, 1.0, 1.0)) * (2 * np.pi)
    return np.clip(vol + BACKGROUND, 0.0, 1.0).astype(np.float32)


def cache_path(name: str = NAME) -> Path:
    """Where the built dataset is cached.

    Parameters
    ----------
    name : str
        The dataset name (``"embedded-volume"``).

    Returns
    -------
    pathlib.Path
        ``<data cache>/embedded/<name>-v<version>.npz``.
    """
    return data_dir() / "embedded" / f"{name}-v{VOLUME_VERSION}.npz"


def _recipe(noise_kwargs: dict) -> str:
    return json.dumps(
        {
            "name": NAME,
            "version": VOLUME_VERSION,
            "seed": VOLUME_SEED,
            "shape": SHAPE,
            "n": [N_TRAIN, N_TEST],
            "noise": noise_kwargs,
        },
        sort_keys=True,
    )


def _build(noise_kwargs: dict) -> dict[str, np.ndarray]:
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        clean = np.stack(
            [clean_volume(derive_seed(VOLUME_SEED, NAME, split, "clean", i)) for i in range(n)]
        )
        noisy = np.stack(
            [
                readout_volume(v, derive_seed(VOLUME_SEED, NAME, split, "noise", i), **noise_kwargs)
                for i, v in enumerate(clean)
            ]
        )
        arrays[f"{split}_clean"], arrays[f"{split}_noisy"] = clean, noisy
    return arrays


def embedded_volume(*, rebuild: bool = False, **noise_kwargs) -> NoisyDataset:
    """Embedded 3-D default: procedural volumes with z-correlated read-out noise.

    No download: seeded blobs and filaments (module docstring), clean signal in
    ``[0, 1]``, noise of :func:`structnoise.datasets.volume_noise.readout_volume` (shot
    noise of gain 0.002, read noise std 0.02, a read-out pattern of std 0.05 with a
    correlation of 0.9 between neighbouring planes). Built on first use (about a second)
    and cached under the data cache (``$STRUCTNOISE_DATA``).

    Parameters
    ----------
    rebuild : bool
        Ignore the cache and build again.
    **noise_kwargs
        Non-default parameters of :func:`~structnoise.datasets.volume_noise.readout_volume`
        (e.g. ``z_correlation=0.5``); a dataset built with other parameters is cached
        beside the default one, under a name with a hash of the parameters.

    Returns
    -------
    NoisyDataset
        ``train_noisy`` / ``train_clean``: ``(12, 16, 64, 64)`` float32;
        ``test_noisy`` / ``test_clean``: ``(4, 16, 64, 64)`` float32, i.e.
        ``(N, Z, Y, X)``; ``axis="z"``.
    """
    recipe = _recipe(noise_kwargs)
    path = cache_path()
    if noise_kwargs:
        path = path.with_name(f"{path.stem}-{derive_seed(0, recipe):010d}.npz")
    arrays = None
    if path.exists() and not rebuild:
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["recipe"]) == recipe:
                    arrays = {k: f[k] for k in f.files if k != "recipe"}
        except (OSError, ValueError, KeyError):
            arrays = None  # unreadable cache: rebuild it
    if arrays is None:
        arrays = _build(noise_kwargs)
        with atomic_path(path) as tmp:
            np.savez(tmp, recipe=np.array(recipe), **arrays)
    return NoisyDataset(
        name=NAME,
        train_noisy=arrays["train_noisy"],
        test_noisy=arrays["test_noisy"],
        test_clean=arrays["test_clean"],
        train_clean=arrays["train_clean"],
        axis=AXIS,
        citation=_CITATION,
        licence=_LICENCE,
        description=(
            f"{N_TRAIN} training and {N_TEST} test procedural volumes of "
            f"{'x'.join(map(str, SHAPE))} voxels (Z, Y, X; blobs and filaments) with "
            "shot and read noise and a read-out pattern correlated along z"
        ),
    )


#: The catalogue entry (:mod:`structnoise.datasets.catalog`).
ENTRIES: tuple[DatasetEntry, ...] = (
    DatasetEntry(
        name=NAME,
        loader=embedded_volume,
        kind=DatasetKind.EMBEDDED,
        source="procedural volumes (seeded, no file)",
        size=f"{N_TRAIN} train + {N_TEST} test volumes, {'x'.join(map(str, SHAPE))} (ZYX)",
        axis=AXIS,
        cache=cache_path,
    ),
)
