"""Denoising methods behind one small interface, and their registry.

>>> from structnoise import methods
>>> methods.list_methods("dvlae*")  # doctest: +SKIP
['dvlae-large', 'dvlae-small']
>>> model = methods.create("gaussian", sigma=1.0)  # doctest: +SKIP
"""

from structnoise.methods.base import BaseDenoiser
from structnoise.methods.checks import TrainingDivergedError
from structnoise.methods.contract import Denoiser, MethodInfo
from structnoise.methods.registry import (
    create,
    get_entry,
    list_methods,
    load,
    method_info,
    register,
)
from structnoise.methods.summary import StopReason, TrainSummary

__all__ = [
    "BaseDenoiser",
    "Denoiser",
    "MethodInfo",
    "create",
    "get_entry",
    "list_methods",
    "load",
    "method_info",
    "register",
    "StopReason",
    "TrainSummary",
    "TrainingDivergedError",
]
