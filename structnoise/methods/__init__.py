"""Denoising methods behind one small interface, and their registry.

>>> from structnoise import methods
>>> methods.list("dvlae*")  # doctest: +SKIP
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

#: ``structnoise.methods.list(pattern)``: alias of :func:`list_methods`.
list = list_methods  # noqa: A001 - the public name the API promises

__all__ = [
    "BaseDenoiser",
    "Denoiser",
    "MethodInfo",
    "create",
    "get_entry",
    "list",
    "list_methods",
    "load",
    "method_info",
    "register",
    "TrainingDivergedError",
]
