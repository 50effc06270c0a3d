"""Arithmetic choices for speed; moved to :mod:`structnoise.methods.vae.device`.

Kept so that ``from structnoise.methods.dvlae.speed import autocast, resolve_precision``
(the DVLAE speed benchmark) goes on working.
"""

from structnoise.methods.vae.device import autocast, resolve_precision

__all__ = ["autocast", "resolve_precision"]
