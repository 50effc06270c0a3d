"""The paper's fluorescence-microscopy datasets with real noise (downloaded with pooch).

Splits and ground truth follow the publications the paper takes them from (HDN, PPN2V,
DVLAE): the ground truth is the mean over all frames of the stack (each frame is a noisy
recording of the same static scene); the test set is a fixed crop of every frame; the
rest of the field of view is the training set of the supervised CARE baseline
(unsupervised methods fit on training and test images together, as the paper's code
does). Every loader accepts ``path=`` for a copy the user already has, or downloads it
(see :mod:`structnoise.datasets.download` for mirrors and hashes).

The four datasets differ only in their constants (:data:`REAL_DATASETS`): one loader,
:func:`load_real`, reads them all, and :func:`convallaria_a`, :func:`convallaria_b`,
:func:`mouse_actin` and :func:`mouse_nuclei` are that loader bound to one dataset.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structnoise.datasets.archives import extract_member
from structnoise.datasets.base import DatasetEntry, DatasetKind, NoisyDataset
from structnoise.datasets.download import DEFAULT_RETRIES, fetch_file

CITATION_STRUCTN2V = (
    "Broaddus, Krull, Weigert, Schmidt, Myers. Removing structured noise with "
    "self-supervised blind-spot networks. ISBI 2020."
)
CITATION_PPN2V = (
    "Prakash, Lalit, Tomancak, Krull, Jug. Fully unsupervised probabilistic Noise2Void. ISBI 2020."
)

#: A crop: rows and columns.
Region = tuple[slice, slice]

_ALL = slice(None)
_LOW, _HIGH = slice(None, 512), slice(512, None)  # first, second half of a 1024 axis


@dataclass(frozen=True)
class RealDataset:
    """Every fact of one real dataset: its file, its split, its names and its description.

    Adding a downloadable dataset of this kind is one entry of :data:`REAL_DATASETS`
    (plus its ``name sha256 url`` line in ``registry.txt``): the loader, the catalogue
    entry (:data:`ENTRIES`), the download's member check and the noise axis all read it.

    Attributes
    ----------
    name : str
        Dataset name.
    file : str
        Registry file (a TIFF stack, or a zip archive holding one).
    member : str or None
        The TIFF inside the archive (None when ``file`` is the TIFF).
    test : Region
        The crop of every frame that is the test set.
    train : tuple of Region
        The crops that are the training set (concatenated in this order).
    min_shape : tuple of int
        Smallest frame size the crops need.
    axis : {"horizontal", "vertical"} or None
        Direction of the structured noise.
    citation, licence, description : str
        As in :class:`NoisyDataset`.
    paper_name : str
        The name in the paper's tables.
    origin, size : str
        Short origin and size for the catalogue (``structnoise datasets list``).
    summary, source, returns : str
        The loader's docstring: its first line, a paragraph on the file, and the
        shapes of what it returns.
    """

    name: str
    file: str
    member: str | None
    test: Region
    train: tuple[Region, ...]
    min_shape: tuple[int, int]
    axis: str | None
    citation: str
    licence: str
    description: str
    paper_name: str
    origin: str
    size: str
    summary: str
    source: str
    returns: str

    def docstring(self) -> str:
        """The numpydoc docstring of this dataset's loader.

        Returns
        -------
        str
        """
        path = (
            f"An existing ``{self.file}``; else it is downloaded into the data cache."
            if self.member is None
            else "The TIFF or the zip archive; else the archive is downloaded."
        )
        body = _LOADER_DOC.format(
            source=_wrap(self.source, ""),
            path=_wrap(path, "    "),
            returns=_wrap(self.returns, "    "),
            notes=_wrap(f"Licence: {self.licence}. Citation: {self.citation}", ""),
        )
        return self.summary + "\n\n" + textwrap.indent(body, "    ")


def _wrap(text: str, indent: str) -> str:
    """``text`` wrapped to a docstring's width, continuation lines indented by ``indent``.

    Inline literals (double backquotes) are never broken.
    """
    parts = text.split("``")
    kept = "``".join(p.replace(" ", "\0") if i % 2 else p for i, p in enumerate(parts))
    wrapped = textwrap.fill(
        kept, width=84 - len(indent), subsequent_indent=indent, break_on_hyphens=False
    )
    return wrapped.replace("\0", " ")


_LOADER_DOC = """{source}

Parameters
----------
path : path-like, optional
    {path}
base_url : str, optional
    Mirror base URL (see :mod:`structnoise.datasets.download`).
retries : int
    Extra download attempts.
progress : bool
    Show a download progress bar.

Returns
-------
NoisyDataset
    {returns}

Notes
-----
{notes}
"""


_QUADRANTS = ((_LOW, _HIGH), (_HIGH, _LOW), (_HIGH, _HIGH))

REAL_DATASETS: dict[str, RealDataset] = {
    d.name: d
    for d in (
        RealDataset(
            name="convallaria-a",
            file="flower.tif",
            member=None,
            test=(_LOW, _LOW),
            train=_QUADRANTS,
            min_shape=(1024, 1024),
            # Evidence: the DVLAE authors' training notebook (commit acbab39) trains on this
            # very file with RF_shape="horizontal" and says its noise is "correlated along
            # rows". No frame of it is available here to measure.
            axis="horizontal",
            citation=CITATION_STRUCTN2V,
            licence="see Zenodo record 5160338 (structN2V data)",
            description="Convallaria, 100 frames 1024x1024, structured horizontal noise; "
            "GT = frame mean; test = [:, :512, :512]",
            paper_name="Convallaria A",
            origin="structN2V (Broaddus et al. 2020)",
            size="100x1024x1024 uint16, 210 MB",
            summary="*Convallaria A*: Convallaria with structured (horizontal) noise, "
            "from structN2V.",
            source="File ``flower.tif``: 100 frames of 1024x1024 uint16 (about 210 MB), "
            "sha256 ``08c2c77a...``.",
            returns="``test_noisy``: ``(100, 512, 512)`` float32, all frames cropped to "
            "``[:, :512, :512]``; ``test_clean``: the mean over frames of that crop, "
            "repeated per frame (a read-only broadcast view); ``train_noisy``/"
            "``train_clean``: ``(300, 512, 512)``, the other three quadrants; "
            '``axis="horizontal"``.',
        ),
        RealDataset(
            name="convallaria-b",
            file="Convallaria_diaphragm.zip",
            member="Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif",
            test=(_LOW, _LOW),
            train=_QUADRANTS,
            min_shape=(1024, 1024),
            # Evidence (benchmarks/real_axes.py on frame 0, results/fidelity/real_axes.md):
            # at high frequencies, where the optics leave little signal, the noise is
            # anti-correlated along rows (lag 1: -0.090; -0.078..-0.107 over bands and
            # tiles) and uncorrelated along columns (+0.012; controls ~0). The blind
            # `structnoise analyze` proposes vertical (rows 0.18, columns 0.29 at lag 1)
            # but that is signal: the high-pass residual correlates as much diagonally
            # (0.51 at lag (1,1); 0.20 on the flattest tiles, rows 0.23, columns 0.26).
            axis="horizontal",
            citation=CITATION_PPN2V,
            licence="CC BY 4.0",
            description="Convallaria diaphragm, 100 frames 1024x1024, weakly structured "
            "horizontal noise; GT = frame mean; test = [:, :512, :512]",
            paper_name="Convallaria B",
            origin="PPN2V (Prakash et al. 2020)",
            size="100x1024x1024, zip 344 MB",
            summary="*Convallaria B*: Convallaria diaphragm from PPN2V (Zenodo record 5156913).",
            source="Archive ``Convallaria_diaphragm.zip`` (344 MB, sha256 ``8a2ac3e2...``) "
            "-> ``Convallaria_diaphragm/20190520_tl_25um_50msec_05pc_488_130EM_Conv.tif``: "
            "100 frames of 1024x1024.",
            returns="``test_noisy``: ``(100, 512, 512)`` float32 ``[:, :512, :512]``; "
            "``test_clean``: frame mean of that crop; ``train_noisy``/``train_clean``: "
            "``(300, 512, 512)``, the other three quadrants (CARE's training data); "
            '``axis="horizontal"``.',
        ),
        RealDataset(
            name="mouse-actin",
            file="Mouse_actin.zip",
            member="Mouse actin/sample_attempt2.tif",
            test=(_ALL, _LOW),
            train=((_ALL, _HIGH),),
            min_shape=(1, 1024),
            # Evidence (benchmarks/real_axes.py on frame 0, results/fidelity/real_axes.md):
            # every estimate agrees: anti-correlated along rows, not along columns;
            # `structnoise analyze` rows -0.105, columns -0.002 at lag 1 (proposes
            # horizontal); high-frequency spectrum rows -0.106, columns -0.008. (The frame
            # is from the archive's calibration stack, ..._130EM_FD: same camera.)
            axis="horizontal",
            citation=CITATION_PPN2V,
            licence="see Zenodo record 5156937",
            description="Mouse actin, 100 frames 1024x1024, weakly structured noise; "
            "GT = frame mean; test = left half",
            paper_name="Mouse Actin",
            origin="PPN2V, Zenodo 5156937",
            size="100x1024x1024",
            summary="*Mouse Actin* from PPN2V.",
            source="Archive ``Mouse_actin.zip`` (Zenodo record 5156937, sha256 not "
            "published: recorded on first download) -> ``Mouse actin/sample_attempt2.tif``: "
            "100 frames of 1024x1024.",
            returns="``test_noisy``: ``(100, 1024, 512)`` float32, the left half "
            "``[:, :, :512]``; ``test_clean``: its frame mean; ``train_noisy``/"
            '``train_clean``: the right half ``[:, :, 512:]``; ``axis="horizontal"``.',
        ),
        RealDataset(
            name="mouse-nuclei",
            file="Mouse_skull_nuclei.zip",
            member="Mouse skull nuclei/example2_digital_offset300.tif",
            test=(_ALL, slice(None, 256)),
            train=((_ALL, slice(256, None)),),
            min_shape=(1, 512),
            # The paper: "truly unstructured" noise (SN2V with a single-pixel mask); its
            # DVLAE used the same receptive field as the other microscopy datasets, which
            # a method's default axis (horizontal) gives.
            axis=None,
            citation=CITATION_PPN2V,
            licence="see Zenodo record 5156960",
            description="Mouse skull nuclei, 200 frames 512x512, unstructured noise; "
            "GT = frame mean; test = left half",
            paper_name="Mouse Nuclei",
            origin="PPN2V, Zenodo 5156960",
            size="200x512x512",
            summary='*Mouse Nuclei* (PPN2V "Mouse skull nuclei"), the paper\'s '
            "unstructured-noise control.",
            source="Archive ``Mouse_skull_nuclei.zip`` (Zenodo record 5156960, sha256 not "
            "published: recorded on first download) -> ``Mouse skull "
            "nuclei/example2_digital_offset300.tif``: 200 frames of 512x512.",
            returns="``test_noisy``: ``(200, 512, 256)`` float32, ``[:, :, :256]``; "
            "``test_clean``: its frame mean; ``train_noisy``/``train_clean``: "
            "``[:, :, 256:]``; ``axis=None`` (unstructured noise; the paper still used a "
            "horizontal receptive field).",
        ),
    )
}
"""Every real dataset by name."""


def _read_tiff(path: Path, name: str) -> np.ndarray:
    import tifffile

    stack = np.asarray(tifffile.imread(path))
    if stack.ndim != 3:
        raise ValueError(f"{name}: expected a (frames, Y, X) stack in {path}, got {stack.shape}")
    return stack


def _source(
    spec: RealDataset,
    path: str | os.PathLike | None,
    base_url: str | None,
    retries: int,
    progress: bool,
) -> Path:
    """The TIFF file: a user-supplied path, else downloaded (and extracted)."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        if path.suffix.lower() == ".zip":
            if spec.member is None:
                raise ValueError(f"{path}: expected the TIFF file itself, not a zip archive")
            return extract_member(path, spec.member)
        return path
    downloaded = fetch_file(
        spec.file,
        base_url=base_url,
        retries=retries,
        progress=progress,
        expect_members=(spec.member,) if spec.member else (),
    )
    return extract_member(downloaded, spec.member) if spec.member else downloaded


def _split(
    stack: np.ndarray, spec: RealDataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop test and training regions; ground truth = mean over frames."""
    min_y, min_x = spec.min_shape
    if stack.shape[1] < min_y or stack.shape[2] < min_x:
        raise ValueError(
            f"{spec.name}: frames are {stack.shape[1]}x{stack.shape[2]}, expected at least "
            f"{min_y}x{min_x}; is this the right file?"
        )
    data = stack.astype(np.float32)
    gt = data.mean(axis=0)

    def region(sl: Region) -> tuple[np.ndarray, np.ndarray]:
        noisy = np.ascontiguousarray(data[:, sl[0], sl[1]])
        clean = np.broadcast_to(gt[sl[0], sl[1]], noisy.shape)
        return noisy, clean

    test_noisy, test_clean = region(spec.test)
    parts = [region(sl) for sl in spec.train]
    train_noisy = np.concatenate([p[0] for p in parts])
    train_clean = np.concatenate([p[1] for p in parts])
    assert len(train_noisy) == len(data) * len(spec.train)
    return train_noisy, test_noisy, test_clean, train_clean


def load_real(
    name: str,
    path: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: bool = True,
) -> NoisyDataset:
    """Load one of the real datasets (see :data:`REAL_DATASETS`).

    Parameters
    ----------
    name : str
        ``"convallaria-a"``, ``"convallaria-b"``, ``"mouse-actin"`` or ``"mouse-nuclei"``.
    path, base_url, retries, progress
        As in the dataset's loader: a local copy (the TIFF or the zip archive holding
        it), else a download from the registry or a mirror.

    Returns
    -------
    NoisyDataset
        The split described in the dataset's loader (e.g. :func:`convallaria_a`).
    """
    spec = REAL_DATASETS[name]
    source = _source(spec, path, base_url, retries, progress)
    train_noisy, test_noisy, test_clean, train_clean = _split(_read_tiff(source, name), spec)
    return NoisyDataset(
        name=spec.name,
        train_noisy=train_noisy,
        test_noisy=test_noisy,
        test_clean=test_clean,
        train_clean=train_clean,
        axis=spec.axis,
        citation=spec.citation,
        licence=spec.licence,
        description=spec.description,
    )


def _loader(name: str) -> Callable[..., NoisyDataset]:
    """:func:`load_real` bound to one dataset, named and documented after it."""

    def load(
        path: str | os.PathLike | None = None,
        *,
        base_url: str | None = None,
        retries: int = DEFAULT_RETRIES,
        progress: bool = True,
    ) -> NoisyDataset:
        return load_real(name, path, base_url=base_url, retries=retries, progress=progress)

    load.__name__ = load.__qualname__ = name.replace("-", "_")
    load.__doc__ = REAL_DATASETS[name].docstring()
    return load


#: The catalogue entries of the real datasets (:mod:`structnoise.datasets.catalog`).
ENTRIES: tuple[DatasetEntry, ...] = tuple(
    DatasetEntry(
        name=d.name,
        loader=_loader(d.name),
        kind=DatasetKind.DOWNLOAD,
        source=d.origin,
        size=d.size,
        axis=d.axis,
        files=(d.file,),
        members=(d.member,) if d.member else (),
        paper_name=d.paper_name,
    )
    for d in REAL_DATASETS.values()
)

# The paper's datasets' loaders under their own names (the catalogue needs none: a new
# entry of REAL_DATASETS is loadable by name without a line here).
_LOADERS = {e.name: e.loader for e in ENTRIES}
convallaria_a = _LOADERS["convallaria-a"]
convallaria_b = _LOADERS["convallaria-b"]
mouse_actin = _LOADERS["mouse-actin"]
mouse_nuclei = _LOADERS["mouse-nuclei"]
