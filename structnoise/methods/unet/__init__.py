"""The careamics UNet baselines ``n2v``, ``sn2v`` and ``care``, one concept per module.

- :mod:`~structnoise.methods.unet.profiles`: the training profiles (patch, batch, steps,
  network size, learning rate) and the user's overrides of them;
- :mod:`~structnoise.methods.unet.config`: the careamics configuration of one run;
- :mod:`~structnoise.methods.unet.struct_mask`: structN2V's struct mask (the input
  manipulation, the span's checks and its proposal from the noise autocorrelation);
- :mod:`~structnoise.methods.unet.training`: one careamics training run (quiet, files in a
  work folder, global generators restored, divergence stopped);
- :mod:`~structnoise.methods.unet.denoiser`: :class:`CareamicsDenoiser`, the shared base
  class (fit, tiled denoising, normalisation, save and load);
- :mod:`~structnoise.methods.unet.methods`: :class:`N2V`, :class:`StructN2V`, :class:`CARE`.

The methods are registered, and every public name re-exported, by
:mod:`structnoise.methods.careamics_adapters`, whose docstring describes the baselines and
how they differ from careamics' defaults. This package never imports itself as
``careamics``: every import here is absolute, so ``import careamics`` is the real package.
"""
