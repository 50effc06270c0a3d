"""The authors' DVLAE (krulllab/DVLAE at ``acbab39``) in structnoise: checkpoints and weights.

>>> from structnoise.methods.dvlae import authors
>>> model = authors.import_checkpoint("final_model.ckpt")  # doctest: +SKIP
>>> authors.save_imported(model, "model/")  # structnoise denoise model/ ...  # doctest: +SKIP

- :mod:`~structnoise.methods.dvlae.authors.checkpoint`: :func:`read_checkpoint`, a
  Lightning checkpoint of the authors' notebooks read with ``weights_only=True`` (no code
  of the checkpoint runs);
- :mod:`~structnoise.methods.dvlae.authors.mapping`: their state-dict keys, read both
  ways: our :class:`~structnoise.methods.dvlae.network.Architecture` of their state dict
  (:func:`architecture_from_authors`), and the exact mapping of the tensors
  (:func:`from_authors`, :func:`to_authors`); the paper's networks
  (:func:`paper_architecture`, :func:`preset_of`);
- :mod:`~structnoise.methods.dvlae.authors.convert`: :func:`import_checkpoint` and
  :func:`save_imported`, what ``structnoise import-authors``
  (:mod:`~structnoise.methods.dvlae.authors.cli`) runs.
"""

from structnoise.methods.dvlae.authors.checkpoint import AuthorsCheckpoint, read_checkpoint
from structnoise.methods.dvlae.authors.convert import (
    AUTHORS_COMMIT,
    AUTHORS_REPO,
    import_checkpoint,
    save_imported,
)
from structnoise.methods.dvlae.authors.mapping import (
    AuthorsFormatError,
    architecture_from_authors,
    from_authors,
    paper_architecture,
    preset_of,
    to_authors,
)

__all__ = [
    "AUTHORS_COMMIT",
    "AUTHORS_REPO",
    "AuthorsCheckpoint",
    "AuthorsFormatError",
    "architecture_from_authors",
    "from_authors",
    "import_checkpoint",
    "paper_architecture",
    "preset_of",
    "read_checkpoint",
    "save_imported",
    "to_authors",
]
