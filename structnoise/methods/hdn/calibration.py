"""Where HDN's noise model comes from: clean images, a pseudo ground truth, or a given model."""

from __future__ import annotations

import os

import numpy as np

from structnoise._validate import as_stack, check_same_shape
from structnoise.methods.hdn_noise import GMMNoiseModel


def calibration_source(noisy: np.ndarray, *, clean=None, signal=None, noise_model=None, name="hdn"):
    """Which of ``clean``, ``signal`` and ``noise_model`` calibrates the noise model.

    Exactly one must be given.

    Parameters
    ----------
    noisy : numpy.ndarray
        The validated ``(N, Y, X)`` noisy images (the observations of the pairs).
    clean, signal : array_like, optional
        Clean images or a pseudo ground truth of ``noisy``'s shape.
    noise_model : GMMNoiseModel or path-like, optional
        A fitted model, or a folder holding one (written by :meth:`GMMNoiseModel.save`
        or by ``save`` of a fitted HDN).
    name : str
        The method's name, for the message.

    Returns
    -------
    source : {"clean", "signal", "given"}
    pair : numpy.ndarray or None
        The signal of the pixel pairs (None for a given model).
    model : GMMNoiseModel or None
        The given model.

    Raises
    ------
    ValueError
        Without a source, with more than one, or with a pair of another shape.
    TypeError
        For a ``noise_model`` of another type.
    """
    sources = (("clean", clean), ("signal", signal), ("noise_model", noise_model))
    given = [label for label, value in sources if value is not None]
    if not given:
        raise ValueError(
            f"{name} needs clean targets (or a pseudo ground truth) to fit its noise "
            "model; the denoiser itself learns from the noisy images only. Call "
            "fit(noisy, clean) with clean images paired with noisy, "
            "fit(noisy, signal=pseudo_clean) with a pseudo ground truth (e.g. another "
            "denoiser's output), or fit(noisy, noise_model=GMMNoiseModel.fit(obs, sig))"
        )
    if len(given) > 1:
        raise ValueError(
            f"give exactly one of clean, signal and noise_model (got {', '.join(given)})"
        )
    if isinstance(noise_model, str | os.PathLike):
        noise_model = GMMNoiseModel.load(noise_model)
    if noise_model is not None and not isinstance(noise_model, GMMNoiseModel):
        raise TypeError(
            "noise_model must be a GMMNoiseModel or the folder of a saved one, "
            f"got {type(noise_model).__name__}"
        )
    if noise_model is not None:
        return "given", None, noise_model
    source = given[0]
    pair, _ = as_stack(clean if clean is not None else signal, name=source)
    check_same_shape(noisy, pair, ("noisy", source))
    return source, pair, None
