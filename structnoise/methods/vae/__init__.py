"""The ladder-VAE method core shared by DVLAE and HDN.

Both methods are a :class:`~structnoise.methods.vae.ladder.LadderVAE` with a head that maps
its s_code to the signal, trained on random crops of noisy images and predicting the
MMSE of posterior samples tile by tile. What they share lives here:

* :mod:`~structnoise.methods.vae.method`: :class:`LadderMethod`, the method base class:
  parameter checks, the seeded network, validation split and normalisation, training
  through :func:`~structnoise.methods.vae.training.fit_network`, the train summary, tiled
  MMSE / sample / mean prediction, save and load;
* :mod:`~structnoise.methods.vae.data`: :class:`Normalisation`, the validation split and
  the random crops;
* :mod:`~structnoise.methods.vae.ladder`: :class:`~structnoise.methods.vae.ladder.LadderVAE`,
  the hierarchical encoder, and its building blocks;
* :mod:`~structnoise.methods.vae.network`: :class:`LadderSignalNet` (signal, MMSE);
* :mod:`~structnoise.methods.vae.device`: precision (bfloat16 autocast), random-state
  devices, CPU thread tuning;
* :mod:`~structnoise.methods.vae.options`: the named choices (precisions,
  learning-rate schedules);
* :mod:`~structnoise.methods.vae.training` and :mod:`~structnoise.methods.vae.callbacks`
  (they import Lightning; nothing imports them before training): the base
  LightningModule, the loop, the budget callback and the weight average.

DVLAE (:mod:`structnoise.methods.dvlae`) adds the AR noise decoder, the signal decoder
and noise sampling; HDN (:mod:`structnoise.methods.hdn`) the Gaussian-mixture noise model
and the unconditional levels of HDN_{3-6}.
"""

from structnoise.methods.vae.data import Normalisation, RandomCrops, split_validation
from structnoise.methods.vae.method import LadderMethod
from structnoise.methods.vae.network import LadderSignalNet, count_parameters
from structnoise.methods.vae.options import LRSchedule, Precision

__all__ = [
    "LRSchedule",
    "LadderMethod",
    "LadderSignalNet",
    "Normalisation",
    "Precision",
    "RandomCrops",
    "count_parameters",
    "split_validation",
]
