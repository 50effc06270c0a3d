"""The evaluation protocols: which noisy images a method is fitted on.

``RunConfig.protocol`` names it, every cell record keeps it (``protocol``) and the
report says it:

* ``paper`` (the default, what the paper's code does): unsupervised methods are fitted
  on all noisy images, the test images included; HDN's network sees the test images'
  noisy versions too (``extra_noisy``);
* ``held-out``: every method is fitted on the training split only and scored on test
  tiles it has never seen.

Supervised methods (CARE) are fitted on the training pairs under both. Records written
before the field existed were fitted under ``paper``.
"""

from __future__ import annotations

#: Protocol name -> what it means (the report prints it).
PROTOCOLS = {
    "paper": (
        "unsupervised methods fitted on all noisy images, the test images included; "
        "supervised ones on the training pairs"
    ),
    "held-out": "every method fitted on the training split only, scored on unseen test tiles",
}
#: The protocol of records that do not name one.
DEFAULT_PROTOCOL = "paper"


def protocol_of(rec: dict) -> str:
    """The protocol a cell record was fitted under."""
    return str(rec.get("protocol") or DEFAULT_PROTOCOL)


def protocols_of(records: list[dict]) -> dict[str, list[str]]:
    """``{protocol: [labels of the learnt methods fitted under it]}``, in record order.

    Parameters
    ----------
    records : list of dict
        Cell records.

    Returns
    -------
    dict
        Empty when no record is of a learnt method (no ``steps``).
    """
    out: dict[str, list[str]] = {}
    for rec in records:
        if rec.get("steps") is None:
            continue
        labels = out.setdefault(protocol_of(rec), [])
        if rec["label"] not in labels:
            labels.append(str(rec["label"]))
    return out
