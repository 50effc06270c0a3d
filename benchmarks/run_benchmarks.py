"""Run the benchmark scripts: ``python benchmarks/run_benchmarks.py [NAME ...] [-- ARGS]``.

Names (``all`` runs every one that can run here):

* ``dvlae-quality`` - DVLAE quick profile, PSNR after 5/10/20 minutes on 2 CPU cores
  (``benchmarks/dvlae_quality.py``, about 90 minutes);
* ``dvlae-speed`` - DVLAE training and MMSE speed against the authors' code
  (``benchmarks/dvlae_speed.py``); needs a checkout of krulllab/DVLAE at ``acbab39``,
  given by ``--authors PATH`` or the environment variable ``DVLAE_AUTHORS_CODE``;
  skipped with a message when neither is set.

``nox -s bench`` runs ``all``; ``nox -s bench -- dvlae-speed --authors /path/to/DVLAE``
runs one. Arguments after the names (and an optional ``--``) go to every script run,
except ``--authors PATH``, which goes to ``dvlae-speed`` only. Results are written under
``results/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, default arguments)
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "dvlae-quality": ("dvlae_quality.py", ["--out", "results/dvlae-quality"]),
    "dvlae-speed": ("dvlae_speed.py", ["--out", "results/dvlae-speed"]),
}


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    names: list[str] = []
    rest: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return names, argv[i + 1 :]
        if arg.startswith("-"):
            return names, argv[i:]
        names.append(arg)
    return names, rest


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks; return the number that failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    names, extra = _split(argv)
    names = names or ["all"]
    if "all" in names:
        names = list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: all, {', '.join(BENCHMARKS)}")
        return 2
    authors = os.environ.get("DVLAE_AUTHORS_CODE")
    if "--authors" in extra:
        i = extra.index("--authors")
        if i + 1 >= len(extra):
            print("--authors needs a path")
            return 2
        authors = extra[i + 1]
        extra = extra[:i] + extra[i + 2 :]
    failed = 0
    for name in names:
        script, defaults = BENCHMARKS[name]
        args = list(defaults) + list(extra)
        if name == "dvlae-speed":
            if not authors:
                print(
                    "skipping dvlae-speed: pass --authors PATH (a checkout of krulllab/DVLAE "
                    "at acbab39) or set DVLAE_AUTHORS_CODE"
                )
                continue
            args += ["--authors", authors]
        cmd = [sys.executable, str(HERE / script), *args]
        print("running", " ".join(cmd), flush=True)
        rc = subprocess.call(cmd)
        if rc:
            print(f"{name} failed with exit code {rc}")
            failed += 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
