"""Export a saved model with a one-pass network as a BioImage Model Zoo package.

``structnoise export MODEL_DIR OUT.zip`` (:func:`export_model`) writes what napari,
deepImageJ, Fiji and ilastik open (``rdf.yaml`` in the 0.5 format of
``bioimageio.spec``): the network's weights as TorchScript and as a state dict with its
architecture, the normalisation as the model's pre- and postprocessing (the network
itself works in normalised units), a test input and the output structnoise computes for
it, a cover image and a documentation page naming the method, the paper, the training
data and the structnoise version.

Exportable: the models whose method offers the hook ``one_pass_network()`` (see
:class:`~structnoise.methods.contract.Denoiser`) and whose hook returns a network: DVLAE
trained with its direct denoiser (``dvlae-small``/``dvlae-large`` with ``direct=True``;
architecture: :mod:`structnoise.methods.dvlae.direct_net`, which needs only torch and
travels in the package) and the careamics UNets (``n2v``, ``sn2v``, ``care``;
architecture: ``careamics.models.unet.UNet``). Other models (HDN's and DVLAE's posterior
sampling, the classical filters) are refused with one line naming the exportable
methods.

Validation and the model test run offline: the description is built with
``perform_io_checks`` off for remote resources (it names no remote file) and
:func:`test_package` runs ``bioimageio.core``'s ``test_model`` on CPU.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from structnoise.methods.contract import OnePass
from structnoise.methods.registry import get_entry, list_methods
from structnoise.utils import atomic_path


def exportable() -> list[str]:
    """The registered methods whose class offers ``one_pass_network`` (sorted).

    A model of one of these is exportable when its hook returns a network (DVLAE: when
    trained with ``direct=True``).

    Returns
    -------
    list of str
    """
    return [n for n in list_methods() if hasattr(get_entry(n).method, "one_pass_network")]


class ExportError(ValueError):
    """A model that cannot be exported (the message is one line)."""


def _refuse(name: str, why: str) -> ExportError:
    return ExportError(
        f"{name} cannot be exported: {why}; exportable: {', '.join(exportable())} "
        "(DVLAE trained with --direct)"
    )


def one_pass_network(model) -> OnePass:
    """The one-pass network of a fitted model (its ``one_pass_network()``), or :class:`ExportError`.

    Parameters
    ----------
    model : Denoiser
        A fitted (or loaded) structnoise method.

    Returns
    -------
    OnePass

    Raises
    ------
    ExportError
        For a method without the hook, or a model whose hook says why it has no
        one-pass network (a DVLAE without a direct denoiser, an unfitted model).
    """
    name = getattr(model, "name", type(model).__name__)
    hook = getattr(model, "one_pass_network", None)
    if hook is None:
        raise _refuse(name, "it has no one-pass network")
    try:
        return hook()
    except ValueError as exc:
        raise _refuse(name, str(exc)) from None


def export_model(model_dir, out, *, sample=None, name: str | None = None) -> Path:
    """Write the BioImage Model Zoo package of a saved model.

    Parameters
    ----------
    model_dir : path-like
        A folder written by ``save`` / ``structnoise train``.
    out : path-like
        The package to write (``.zip``).
    sample : array_like, optional
        An image like the training data; its centre (at most 256x256) becomes the test
        input and the cover. Default: a seeded smooth image with noise in the model's
        training data range.
    name : str, optional
        The model's name in the description (default: ``structnoise <method>``).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ExportError
        When the model has no one-pass network (see :func:`one_pass_network`).
    """
    import torch
    from bioimageio.spec import ValidationContext, save_bioimageio_package

    from structnoise.methods.base import read_method_json
    from structnoise.methods.export.files import (
        cover,
        description,
        documentation,
        sample_input,
        torchscript,
    )
    from structnoise.methods.registry import load

    model_dir, out = Path(model_dir), Path(out)
    if out.suffix != ".zip":
        raise ExportError(f"the package must be a .zip file, got {out.name}")
    meta = read_method_json(model_dir)
    entry = get_entry(meta["method"])
    if isinstance(entry.method, type) and not hasattr(entry.method, "one_pass_network"):
        raise _refuse(entry.name, "it has no one-pass network")  # refused before loading
    model = load(model_dir)
    one = one_pass_network(model)
    img = sample_input(model, sample, one.multiple)
    expected = model.denoise(img, tile=max(img.shape), **one.denoise_options)
    expected = expected.astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="structnoise-export-") as tmp:
        d = Path(tmp)
        files = {
            "input": d / "test_input.npy",
            "output": d / "test_output.npy",
            "state_dict": d / "weights.pt",
            "torchscript": d / "weights_torchscript.pt",
            "cover": d / "cover.png",
            "documentation": d / "README.md",
        }
        np.save(files["input"], img[None, None])
        np.save(files["output"], expected[None, None])
        net = one.network
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, files["state_dict"])
        example = torch.from_numpy((img[None, None] - one.in_mean) / one.in_std).float()
        torchscript(net, example).save(str(files["torchscript"]))
        if "file" in one.architecture:
            files["architecture"] = d / one.architecture["file"].name
            files["architecture"].write_bytes(one.architecture["file"].read_bytes())
        cover(files["cover"], img, expected)
        documentation(files["documentation"], model, one, meta)
        with ValidationContext(perform_io_checks=False):
            descr = description(one, files, name or f"structnoise {one.method}", img)
        with atomic_path(out) as tmp_zip:  # a full disk leaves an earlier package intact
            save_bioimageio_package(descr, output_path=tmp_zip)
    return out


def test_package(path, *, weight_format: str | None = None) -> Any:
    """Run ``bioimageio.core``'s model test on a package (CPU, offline).

    Parameters
    ----------
    path : path-like
        The ``.zip`` written by :func:`export_model`.
    weight_format : {"pytorch_state_dict", "torchscript"}, optional
        Test one weight format (default: every one).

    Returns
    -------
    bioimageio.spec.ValidationSummary
        Its ``status`` is ``"passed"`` or ``"failed"``.
    """
    from bioimageio.core import test_model

    return test_model(str(path), weight_format=weight_format, devices=["cpu"])


test_package.__test__ = False  # a library function, not a test for pytest to collect
