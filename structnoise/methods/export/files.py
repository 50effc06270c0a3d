"""The files of an exported model: test image, cover, documentation, rdf description.

Helpers of :mod:`structnoise.methods.export.package` (see there); the network and its
normalisation come from the method as a :class:`~structnoise.methods.contract.OnePass`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

_PAPERS = {
    "dvlae": (
        "Salmon & Krull, Unsupervised Structured Noise Removal with Variational Lossy "
        "Autoencoder (arXiv 2310.07887)",
        "https://arxiv.org/abs/2310.07887",
    ),
    "care": (
        "Weigert et al., Content-aware image restoration: pushing the limits of "
        "fluorescence microscopy, Nature Methods 15 (2018)",
        "https://doi.org/10.1038/s41592-018-0216-7",
    ),
    "n2v": (
        "Krull, Buchholz & Jug, Noise2Void - Learning Denoising from Single Noisy Images "
        "(CVPR 2019)",
        "https://arxiv.org/abs/1811.10980",
    ),
}
_PAPERS["sn2v"] = _PAPERS["n2v"]


def sample_input(model, sample, multiple: int) -> np.ndarray:
    """The package's test input: a crop of ``sample`` or a seeded image in the data range."""
    side = max(multiple, (64 // multiple) * multiple)
    if sample is not None:
        img = np.asarray(sample, dtype=np.float32)
        img = img.reshape(-1, *img.shape[-2:])[0]
        h = min(256, img.shape[0]) // multiple * multiple
        w = min(256, img.shape[1]) // multiple * multiple
        if h < multiple or w < multiple:
            raise ValueError(f"the sample image {img.shape} is smaller than {multiple} pixels")
        y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        return np.ascontiguousarray(img[y0 : y0 + h, x0 : x0 + w])
    lo, hi = getattr(model, "data_range", None) or (0.0, 1.0)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side] / side
    smooth = 0.5 + 0.25 * np.sin(6 * xx) * np.cos(4 * yy)
    img = smooth + 0.1 * rng.standard_normal((side, side))
    return (lo + (hi - lo) * np.clip(img, 0, 1)).astype(np.float32)


def cover(path: Path, inp: np.ndarray, out: np.ndarray) -> Path:
    """Write the cover: the test input beside the output, one grey scale, as a PNG."""
    from PIL import Image

    lo, hi = np.percentile(inp, [1, 99])
    scale = max(float(hi - lo), 1e-12)
    pair = np.concatenate([inp, out], axis=1)
    img = (np.clip((pair - lo) / scale, 0, 1) * 255).astype(np.uint8)
    h, w = img.shape
    factor = max(1, 256 // h)
    Image.fromarray(img).resize((w * factor, h * factor), Image.NEAREST).save(path)
    return path


def documentation(path: Path, model, one, meta: dict) -> Path:
    """Write the documentation page: method, paper, training data, version, requirements."""
    import structnoise

    text, link = _PAPERS["dvlae" if one.method.startswith("dvlae") else one.method]
    train = meta.get("extra", {}).get("train") or meta.get("extra", {}).get("train_summary") or {}
    n_train = train.get("n_train_images", train.get("n_train", "?"))
    lo, hi = meta.get("data_range") or ("?", "?")
    path.write_text(
        f"# {one.method} (structnoise {structnoise.__version__})\n\n"
        f"{one.summary}.\n\n"
        f"- Method: `{one.method}` of structnoise {structnoise.__version__}; paper: "
        f"{text}, {link}.\n"
        f"- Training data: {n_train} noisy image(s) with values in [{lo}, {hi}] "
        f"(profile `{meta.get('params', {}).get('profile')}`, seed "
        f"{meta.get('params', {}).get('seed')}); parameters: "
        f"`{json.dumps(meta.get('params', {}), sort_keys=True)}`.\n"
        f"- Input: one 2-D image (batch, channel, y, x), sides multiples of {one.multiple}; "
        f"normalised inside the description as (x - {one.in_mean:.6g}) / {one.in_std:.6g}, "
        f"output denormalised as y * {one.out_std:.6g} + {one.out_mean:.6g}.\n"
        "- Runs with PyTorch (TorchScript needs nothing else; the state dict needs "
        + (
            "only torch: its architecture file travels in the package"
            if "file" in one.architecture
            else f"the `careamics` package, `{one.architecture['library']}`"
        )
        + ").\n"
        "- Use it on data like the training data: a model learns its noise.\n",
        encoding="utf-8",
    )
    return path


def description(one, files: dict[str, Path], name: str, inp: np.ndarray):
    """The ``bioimageio.spec`` 0.5 model description of the files in ``files``."""
    import torch
    from bioimageio.spec.model import v0_5 as bmz

    step = one.multiple
    low = max(16, step) if step == 1 else step

    def in_axes():
        return [
            bmz.BatchAxis(),
            bmz.ChannelAxis(channel_names=[bmz.Identifier("intensity")]),
            *[
                bmz.SpaceInputAxis(id=bmz.AxisId(a), size=bmz.ParameterizedSize(min=low, step=step))
                for a in ("y", "x")
            ],
        ]

    out_axes = [
        bmz.BatchAxis(),
        bmz.ChannelAxis(channel_names=[bmz.Identifier("intensity")]),
        *[
            bmz.SpaceOutputAxis(
                id=bmz.AxisId(a),
                size=bmz.SizeReference(tensor_id=bmz.TensorId("input"), axis_id=bmz.AxisId(a)),
            )
            for a in ("y", "x")
        ],
    ]
    pre = bmz.FixedZeroMeanUnitVarianceDescr(
        kwargs=bmz.FixedZeroMeanUnitVarianceKwargs(mean=one.in_mean, std=one.in_std)
    )
    post = bmz.ScaleLinearDescr(kwargs=bmz.ScaleLinearKwargs(gain=one.out_std, offset=one.out_mean))
    arch = one.architecture
    if "file" in arch:
        architecture = bmz.ArchitectureFromFileDescr(
            source=files["architecture"], callable=arch["callable"], kwargs=arch["kwargs"]
        )
    else:
        architecture = bmz.ArchitectureFromLibraryDescr(
            import_from=arch["library"], callable=arch["callable"], kwargs=arch["kwargs"]
        )
    version = bmz.Version(torch.__version__.split("+")[0])
    text, link = _PAPERS["dvlae" if one.method.startswith("dvlae") else one.method]
    return bmz.ModelDescr(
        name=name,
        description=one.summary + " (exported by structnoise)",
        authors=[bmz.Author(name="structnoise developers")],
        cite=[bmz.CiteEntry(text=text, url=link)],
        license=bmz.LicenseId("BSD-3-Clause"),
        documentation=bmz.FileDescr(source=files["documentation"]),
        covers=[bmz.FileDescr(source=files["cover"])],
        tags=one.tags,
        inputs=[
            bmz.InputTensorDescr(
                id=bmz.TensorId("input"),
                axes=in_axes(),
                test_tensor=bmz.FileDescr(source=files["input"]),
                preprocessing=[pre],
            )
        ],
        outputs=[
            bmz.OutputTensorDescr(
                id=bmz.TensorId("output"),
                axes=out_axes,
                test_tensor=bmz.FileDescr(source=files["output"]),
                postprocessing=[post],
            )
        ],
        weights=bmz.WeightsDescr(
            pytorch_state_dict=bmz.PytorchStateDictWeightsDescr(
                source=files["state_dict"], architecture=architecture, pytorch_version=version
            ),
            torchscript=bmz.TorchscriptWeightsDescr(
                source=files["torchscript"],
                pytorch_version=version,
                parent="pytorch_state_dict",
            ),
        ),
    )


def torchscript(network, example):
    """``network`` compiled with TorchScript (scripted, else traced on ``example``)."""
    import torch

    try:
        return torch.jit.script(network)
    except Exception:  # noqa: BLE001 - a network TorchScript cannot compile is traced
        with torch.no_grad():
            return torch.jit.trace(network, example)
