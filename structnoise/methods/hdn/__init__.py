"""Hierarchical DivNoising: ``hdn``, ``hdn36``, ``hdn-large`` and ``hdn36-large``.

>>> from structnoise import methods
>>> model = methods.create("hdn36", profile="quick")  # doctest: +SKIP
>>> model.fit(noisy, clean)  # clean images calibrate the noise model only  # doctest: +SKIP

One concept per module:

- :mod:`~structnoise.methods.hdn.method`: :class:`HDN`, the method (what it is and how
  ``fit`` uses its inputs);
- :mod:`~structnoise.methods.hdn.network`: its network and loss, with every deviation
  from the HDN authors' code;
- :mod:`~structnoise.methods.hdn.training`: its LightningModule;
- :mod:`~structnoise.methods.hdn.profiles`: the variants, the training profiles and the
  registry information;
- :mod:`~structnoise.methods.hdn.noise`: :class:`GMMNoiseModel`, the Gaussian-mixture
  noise model, and where it is calibrated from.
"""

from structnoise.methods.hdn.method import HDN
from structnoise.methods.hdn.noise import GMMNoiseModel
from structnoise.methods.hdn.profiles import INFOS, PROFILES, VARIANTS, HDNProfile
from structnoise.methods.registry import register

for _variant in VARIANTS:
    register(_variant, info=INFOS[_variant], variant=_variant)(HDN)

__all__ = ["HDN", "PROFILES", "VARIANTS", "GMMNoiseModel", "HDNProfile"]
