"""What one benchmark cell costs the reader: modules it loads, calls through ``benchmark/``.

Runs one cell (``gaussian`` on ``embedded-stripe``, one test image, no report) through
``structnoise.benchmark.run`` in this process and prints, as JSON:

* ``structnoise_modules``: the ``structnoise`` modules in ``sys.modules`` afterwards
  (``benchmark_modules``: those under ``structnoise.benchmark``);
* along ``runner.run`` (calls traced with :func:`sys.setprofile`, comprehensions left
  out): ``benchmark_functions`` (distinct functions of ``structnoise.benchmark`` called),
  ``max_depth`` (deepest nesting of ``structnoise.benchmark`` frames below ``run``),
  ``cross_module_returns`` (returns from a ``structnoise.benchmark`` function into a
  caller in another ``structnoise.benchmark`` module: each is one climb back up between
  modules).

Usage (from the repository root; ``--before`` figures: run it with ``PYTHONPATH`` on a
checkout of the earlier commit)::

    PYTHONPATH=. python benchmarks/cell_footprint.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

_SKIP = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>")


def _trace_run(run, cfg: dict) -> dict:
    """Run ``run(cfg)`` under a profiler that follows ``structnoise.benchmark`` frames."""
    stack: list[str] = []  # module of each open benchmark frame
    depth_max = 0
    functions: set[str] = set()
    cross = 0

    def prof(frame, event, _arg):
        nonlocal depth_max, cross
        if event not in ("call", "return"):
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("structnoise.benchmark") or frame.f_code.co_name in _SKIP:
            return
        if event == "call":
            stack.append(module)
            functions.add(f"{module}.{frame.f_code.co_qualname}")
            depth_max = max(depth_max, len(stack))
        elif stack:
            stack.pop()
            if stack and stack[-1] != module:
                cross += 1

    sys.setprofile(prof)
    try:
        run(cfg, progress=False)
    finally:
        sys.setprofile(None)
    return {
        "benchmark_functions": len(functions),
        "max_depth": depth_max,
        "cross_module_returns": cross,
    }


def _commit() -> str:
    """The commit of the imported ``structnoise`` (``+modified`` with local changes)."""
    import structnoise

    root = Path(structnoise.__file__).resolve().parents[1]
    git = ["git", "-C", str(root)]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "structnoise"], capture_output=True, text=True
    )
    return head.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")


def _cpu() -> str:
    try:
        from structnoise.provenance import cpu_model
    except ImportError:  # pragma: no cover
        return platform.processor()
    return cpu_model()


def main() -> None:
    """Run one cell and print what it loaded and how its calls went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    from structnoise.benchmark import run

    with tempfile.TemporaryDirectory(prefix="structnoise-footprint-") as tmp:
        cfg = {
            "name": "footprint",
            "profile": "smoke",
            "methods": [{"name": "gaussian", "params": {"sigma": 1.0}}],
            "datasets": ["embedded-stripe"],
            "max_test_images": 1,
            "report": False,
            "save_denoised": False,
            "out": str(Path(tmp) / "run"),
        }
        calls = _trace_run(run, cfg)
    mods = sorted(m for m in sys.modules if m == "structnoise" or m.startswith("structnoise."))
    result = {
        "commit": _commit(),
        "python": platform.python_version(),
        "cpu": _cpu(),
        "structnoise_modules": len(mods),
        "benchmark_modules": sum(m.startswith("structnoise.benchmark") for m in mods),
        **calls,
        "modules": mods,
    }
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
