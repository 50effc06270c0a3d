"""Griffe extension for the API pages: lazily exported names, Sphinx roles.

``structnoise.benchmark`` (and the noise analysis in ``structnoise.datasets``) import their
public names on first use through a module ``__getattr__``, so that ``structnoise --help``
stays fast. Griffe reads the source without running it and so does not see them. This
extension asks the imported package for its ``__all__`` and, for every name Griffe has not
found, adds an alias to where the object is defined (its ``__module__`` and
``__qualname__``): the API pages then document a package's public names, wherever its
private modules keep them.

The docstrings cross-reference with Sphinx roles (``:func:`load_dataset```), which
mkdocstrings would print as they are; they are shown as code (``load_dataset``), and the
examples' doctest directives are left out.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import griffe

#: The packages whose public API the documentation renders.
PACKAGES = (
    "structnoise.methods",
    "structnoise.datasets",
    "structnoise.benchmark",
)


#: ``:func:`~x.y```, ``:py:class:`y```, ... -> the name in backquotes.
_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|exc|obj|const):`~?([^`]+)`")
#: doctest directives in examples (``# doctest: +SKIP``): for the test runner, not the reader.
_DOCTEST = re.compile(r"[ \t]*# doctest:[^\n]*")


def _plain_roles(obj: griffe.Object) -> None:
    """Sphinx roles as code, no doctest directives, in ``obj`` and its members."""
    if obj.docstring is not None:
        text = _ROLE.sub(r"`\1`", obj.docstring.value)
        obj.docstring.value = _DOCTEST.sub("", text)
    for member in obj.members.values():
        if not member.is_alias:
            _plain_roles(member)


class PublicAPI(griffe.Extension):
    """Lazily exported names as aliases; Sphinx roles as code."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Add the missing ``__all__`` names of the documented packages of ``pkg``."""
        _plain_roles(pkg)
        for path in PACKAGES:
            if path.split(".")[0] != pkg.name:
                continue
            module = pkg.get_member(".".join(path.split(".")[1:]))
            runtime = importlib.import_module(path)
            names = list(getattr(runtime, "__all__", []))
            module.exports = names
            for name in names:
                if name in module.members:
                    continue
                obj = getattr(runtime, name)
                where = getattr(obj, "__module__", None)
                qualname = getattr(obj, "__qualname__", None)
                if not (where and qualname) or where.split(".")[0] != pkg.name:
                    continue  # a constant, or defined outside the package: nothing to point at
                target = f"{where}.{qualname}"
                module.set_member(name, griffe.Alias(name, target, parent=module))
