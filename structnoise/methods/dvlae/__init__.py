"""DVLAE: the paper's denoiser, registered as ``dvlae-small`` and ``dvlae-large``.

>>> from structnoise import methods
>>> model = methods.create("dvlae-small", axis="horizontal", profile="quick")  # doctest: +SKIP
>>> model.fit(noisy)  # doctest: +SKIP
>>> denoised = model.denoise(noisy)  # MMSE of 100 posterior samples  # doctest: +SKIP

See :class:`~structnoise.methods.dvlae.method.DVLAE` for the parameters and
:mod:`structnoise.methods.dvlae.profiles` for the presets and training profiles.
"""

from structnoise.methods.dvlae.method import DVLAE, INFO_LARGE, INFO_SMALL, auto_rf
from structnoise.methods.registry import register

#: The paper's small model (6 levels, 64 filters, about 3.1 M parameters).
register("dvlae-small", info=INFO_SMALL, variant="small")(DVLAE)
#: The paper's large model (14 levels, 128 filters, about 26 M parameters).
register("dvlae-large", info=INFO_LARGE, variant="large")(DVLAE)

__all__ = ["DVLAE", "auto_rf"]
