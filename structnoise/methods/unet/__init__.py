"""Baselines trained through CAREamics: ``sn2v``, ``n2v`` and ``care``.

The methods register themselves (:mod:`~structnoise.methods.unet.methods`); this package
names the public ones. One concept per module:

- :mod:`~structnoise.methods.unet.profiles`: training profiles (:data:`PROFILES`);
- :mod:`~structnoise.methods.unet.config`: the careamics configuration of a run;
- :mod:`~structnoise.methods.unet.struct_mask`: the struct mask
  (:class:`StructMaskManipulate`);
- :mod:`~structnoise.methods.unet.training`: one careamics training run;
- :mod:`~structnoise.methods.unet.denoiser`: :class:`CareamicsDenoiser`, the shared base;
- :mod:`~structnoise.methods.unet.methods`: :class:`N2V`, :class:`StructN2V`,
  :class:`CARE`.

Training runs through careamics' ``CAREamist`` with its own configuration factories
(``create_advanced_n2v_config`` / ``create_advanced_care_config``, careamics 0.3.5);
prediction applies the trained careamics ``UNet`` with the project's tiling
(:func:`structnoise.methods.tiling.predict_tiled`, reflect padding to a multiple of
``2**depth``, so any image size works).

- ``sn2v``: structured Noise2Void (Broaddus et al. 2020). The struct mask hides
  ``span`` pixels centred on each blind-spot pixel along the noise ``axis``
  (``"horizontal"``: along X, i.e. a row; ``"vertical"``: along Y). The paper's masks
  (supplement 1.3): ``span=9`` (4 pixels each side) for stripe-like noise; whole columns
  for FFHQ-Checkerboard: ``span="full"``. With ``span=None`` a span is proposed from the
  noise autocorrelation
  (:func:`structnoise.datasets.noise_stats.propose_span`).
- ``n2v``: plain Noise2Void, single-pixel blind spot.
- ``care``: supervised CARE (Weigert et al. 2018), needs clean targets.

Where the baselines differ from careamics' defaults, and why (all measured):

- struct-mask values: careamics 0.3.5 fills the struct mask with values drawn from
  ``[min, max]`` of each patch; the structN2V authors draw zero-mean values from
  ``[-2, 2]`` (normalised units). ``sn2v`` follows the authors
  (:class:`StructMaskManipulate` replaces the careamics module's manipulation; the blind
  spot itself stays careamics').
- ``span="full"``: careamics 0.3.5 validates ``span <= 15``; a whole-line mask is set
  past that validator with span ``2 * patch - 1`` (see
  :mod:`~structnoise.methods.unet.struct_mask`).
- batch normalisation: ``sn2v`` and ``n2v`` train without it (careamics: with it); the
  blind-spot and struct-mask values exist only in training inputs, and statistics learnt
  with them degrade predictions the longer training runs (see :class:`StructN2V`);
  ``batch_norm=True`` restores careamics' choice.
- ``care`` uses a residual UNet (output = input + correction), the default of CSBDeep's
  CARE when input and output channels match (careamics: not residual); without it CARE's
  quick profile stayed below the noisy input after 300 steps.

Files: careamics writes checkpoints and CSV logs only inside ``work_dir`` (a temporary
folder removed after ``fit`` when not given): never into the current directory. No
Lightning checkpoint files are written; ``save(path)`` writes ``model.pt`` (the UNet's
``state_dict``, loaded with ``torch.load(weights_only=True)``), ``unet.json`` (its
constructor arguments) and ``careamics_config.yml`` (the careamics configuration, for the
record; it is never reloaded through careamics).

Divergence: the first non-finite training loss (or non-finite weights, or a non-finite
validation loss) stops training and ``fit`` raises
:class:`~structnoise.methods.base.TrainingDivergedError`. No method here stops early:
training ends at ``max_steps`` or the minutes budget (``train_summary["stopped_by"]``:
``"max_steps"`` or ``"time_budget"``).

This package never imports itself as ``careamics``: every import here is absolute, so
``import careamics`` is the real package.
"""

from structnoise.methods.unet.denoiser import CareamicsDenoiser
from structnoise.methods.unet.methods import CARE, N2V, StructN2V
from structnoise.methods.unet.profiles import PROFILES, CareamicsProfile

__all__ = ["CARE", "N2V", "PROFILES", "CareamicsDenoiser", "CareamicsProfile", "StructN2V"]
