"""The README and the docs/ pages stay true to the command line and to the repository.

Every ``structnoise ...`` command written in README.md or docs/*.md (in code blocks and
inline code) must name existing subcommands and options; every relative link of the
README must reach a file; the README keeps the two set-up commands that ``.ci/run`` runs,
and stays a short guide. (``mkdocs build --strict`` in ``.ci/run`` checks the links
inside docs/.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").rglob("*.md"))

SETUP = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" '
    "&& structnoise run --profile quick",
    "python -m pytest",
)

_FENCE = re.compile(r"```(?:bash|sh|console)?\n(.*?)```", re.S)
_INLINE = re.compile(r"`(structnoise [^`]+)`")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def command_lines(text: str) -> list[str]:
    """The ``structnoise ...`` commands of a Markdown text, comments removed."""
    found = []
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("structnoise "):
                found.append(line.split("  #")[0].split(" # ")[0])
    found += _INLINE.findall(text)
    return found


def check_command(line: str, root) -> list[str]:
    """Problems of one command line: unknown subcommands or options (placeholders pass)."""
    tokens = shlex.split(line, comments=False)[1:]
    command, problems = root, []
    for token in tokens:
        if hasattr(command, "commands") and not token.startswith("-"):
            if token.startswith(("<", "[")) or token.isupper():
                break  # a placeholder such as <command> or CONFIG
            if token not in command.commands:
                problems.append(f"{line!r}: no command {token!r}")
                break
            command = command.commands[token]
            continue
        option = token.strip("[]").split("=")[0]
        if option.startswith("--") and option != "--help":
            names = {n for p in command.params for n in p.opts + p.secondary_opts}
            if option not in names:
                problems.append(f"{line!r}: {command.name} has no option {option}")
    return problems


@pytest.fixture(scope="module")
def cli():
    import typer

    from structnoise.cli import app

    return typer.main.get_command(app)


def test_check_command_finds_unknown_commands_and_options(cli):
    assert check_command("structnoise denoise M in.tif out.tif --mode direct", cli) == []
    assert check_command("structnoise datasets fetch convallaria-a", cli) == []
    assert "no command 'denoize'" in check_command("structnoise denoize M a b", cli)[0]
    assert "no option --tiles" in check_command("structnoise denoise M a b --tiles 5", cli)[0]
    assert "no command 'get'" in check_command("structnoise datasets get x", cli)[0]


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_documented_commands_exist(path, cli):
    lines = command_lines(path.read_text(encoding="utf-8"))
    problems = [p for line in lines for p in check_command(line, cli)]
    assert problems == []


def test_readme_is_a_short_guide_with_the_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    blocks = [b.strip() for b in _FENCE.findall(text)]
    assert list(SETUP) == blocks[:2]
    assert not re.search(r"\bissue \d+", text, re.I)


def test_docs_home_has_the_same_setup_commands():
    blocks = [b.strip() for b in _FENCE.findall((REPO / "docs" / "index.md").read_text())]
    assert list(SETUP) == blocks[:2]


def test_readme_links_reach_files():
    text = README.read_text(encoding="utf-8")
    targets = [t for t in _LINK.findall(text) if "://" not in t]
    assert targets, "the README links to the docs"
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_no_machine_local_paths_or_issue_numbers(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])/(tmp|work|root|home)/", text)
    assert not re.search(r"\bissue \d+", text, re.I)
