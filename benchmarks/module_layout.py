"""The package's shape at two commits: modules, their sizes, the families of ``methods/``.

Reads the files of ``structnoise/`` from git (nothing is imported or run) at ``--before``
and at ``--after`` (default ``HEAD``) and writes ``module_layout.json`` and
``module_layout.md`` to ``--out`` (default ``results/architecture``):

* the number of modules (``.py`` files) of the package and of ``structnoise/methods``,
  and the files at the top level of ``structnoise/methods``;
* the largest modules (lines), and how many exceed 400 and 1000 lines;
* the files of ``structnoise/methods`` with a family prefix (``hdn_*``, ``authors_*``,
  ``export*``) at its top level, which issue 20 moves into packages.

Usage (from the repository root)::

    python benchmarks/module_layout.py --before 2d1e3fb [--after HEAD] [--out DIR]

The modules one benchmark cell loads are measured by ``benchmarks/cell_footprint.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

from structnoise.utils import atomic_path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "structnoise"
METHODS = f"{PACKAGE}/methods"
#: Family prefixes that issue 20 wants as packages, not flat files.
FAMILY_PREFIX = re.compile(r"^(hdn_|authors_|export)")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def layout(commit: str, top: int = 10) -> dict:
    """The shape of the package at ``commit``.

    Parameters
    ----------
    commit : str
        Any git revision.
    top : int
        How many of the largest modules to list.

    Returns
    -------
    dict
    """
    files = [
        f
        for f in _git("ls-tree", "-r", "--name-only", commit, PACKAGE).split()
        if f.endswith(".py")
    ]
    lines = {f: len(_git("show", f"{commit}:{f}").splitlines()) for f in files}
    methods = [f for f in files if f.startswith(f"{METHODS}/")]
    top_level = sorted(Path(f).name for f in methods if f.count("/") == 2)
    largest = sorted(lines.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "commit": _git("rev-parse", commit).strip(),
        "package_modules": len(files),
        "package_lines": sum(lines.values()),
        "methods_modules": len(methods),
        "methods_lines": sum(lines[f] for f in methods),
        "methods_top_level_files": top_level,
        "methods_family_prefixed_files": [f for f in top_level if FAMILY_PREFIX.match(f)],
        "modules_over_400_lines": sum(n > 400 for n in lines.values()),
        "modules_over_1000_lines": sum(n > 1000 for n in lines.values()),
        "largest_modules": [{"module": f, "lines": n} for f, n in largest],
    }


def to_markdown(before: dict, after: dict) -> str:
    """The two layouts side by side."""
    rows = [
        ("modules in the package", "package_modules"),
        ("lines in the package", "package_lines"),
        ("modules in methods/", "methods_modules"),
        ("lines in methods/", "methods_lines"),
        ("modules over 400 lines", "modules_over_400_lines"),
        ("modules over 1000 lines", "modules_over_1000_lines"),
    ]
    out = [
        "# Package layout",
        "",
        f"Written by `benchmarks/module_layout.py --before {before['commit'][:10]}` "
        f"(after: `{after['commit'][:10]}`), from the files in git.",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
    ]
    out += [f"| {label} | {before[key]} | {after[key]} |" for label, key in rows]
    for label, key in (
        ("files at the top level of methods/", "methods_top_level_files"),
        (
            "family-prefixed files there (hdn_*, authors_*, export*)",
            "methods_family_prefixed_files",
        ),
    ):
        out.append(f"| {label} | {len(before[key])} | {len(after[key])} |")
    for name, data in (("before", before), ("after", after)):
        out += ["", f"Largest modules {name}:", ""]
        out += [f"- {m['module']}: {m['lines']} lines" for m in data["largest_modules"][:5]]
    return "\n".join(out) + "\n"


def main() -> None:
    """Write the layout before and after."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit before the redesign")
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--out", default=str(ROOT / "results" / "architecture"))
    args = parser.parse_args()
    before, after = layout(args.before), layout(args.after)
    out = Path(args.out)
    text = to_markdown(before, after)
    for name, content in (
        ("module_layout.json", json.dumps({"before": before, "after": after}, indent=2) + "\n"),
        ("module_layout.md", text),
    ):
        with atomic_path(out / name) as tmp:
            tmp.write_text(content)
    print(text)


if __name__ == "__main__":
    main()
