"""A saved model as a BioImage Model Zoo package: ``structnoise export MODEL_DIR OUT.zip``.

>>> from structnoise.methods.export import export_model, test_package
>>> export_model("model/", "model.zip", sample=noisy)  # doctest: +SKIP
>>> test_package("model.zip").status  # doctest: +SKIP
'passed'

- :mod:`~structnoise.methods.export.package`: which models can be exported (the method's
  ``one_pass_network()`` hook), :func:`export_model`, :func:`test_package`;
- :mod:`~structnoise.methods.export.files`: the files of the package (test image, cover,
  documentation, the ``bioimageio.spec`` description);
- :mod:`~structnoise.methods.export.cli`: the ``structnoise export`` command.
"""

from structnoise.methods.export.package import (
    ExportError,
    export_model,
    exportable,
    one_pass_network,
    test_package,
)

__all__ = ["ExportError", "export_model", "exportable", "one_pass_network", "test_package"]
