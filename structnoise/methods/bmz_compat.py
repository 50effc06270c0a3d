"""Make ``bioimageio.spec`` 0.5.12 serialise under pydantic-core 2.4x (an in-memory fix).

careamics 0.3.5 pins ``bioimageio.core`` 0.11.0, which pins ``bioimageio.spec`` 0.5.12.0;
careamics allows pydantic up to 2.14.1, whose pydantic-core checks the second argument of
a wrap serializer's handler (``index_key``: an int or a str). ``bioimageio.spec`` 0.5.12
passes its ``SerializationInfo`` there (``handler(value, info)``, "taken from pydantic
docs"), so building, loading or testing any model description fails with ``'index_key'
is expected to be an integer or a string`` (careamics' own ``export_to_bmz`` too).

:func:`patch_bioimageio` recompiles the three serializers that do this without that
argument (the handler's default, what the old pydantic-core did with it) and swaps their
code in place, so that every reference to them, including the serializers pydantic has
already compiled into its schemas, runs the fixed code. Nothing is written to disk; only
serializers whose source passes that argument are touched (a fixed ``bioimageio.spec``
is left alone), and ``handler(value)`` is pydantic's documented call in every version.
"""

from __future__ import annotations

import inspect
import textwrap

#: The argument ``bioimageio.spec`` passes in error, as it is written in its sources.
_BAD_ARGUMENT = "info,  # pyright: ignore[reportArgumentType]  # taken from pydantic docs"

_patched = False


def _serializers() -> list:
    from bioimageio.spec._internal import io_packaging
    from bioimageio.spec._internal import validated_string_with_inner_node as vs
    from bioimageio.spec.model import v0_4

    funcs = [io_packaging.package_file_descr_serializer, v0_4.package_weights]
    proxy = vs.ValidatedStringWithInnerNode.__dict__.get("_serialize")
    if proxy is not None:
        funcs.append(getattr(proxy, "wrapped", proxy))
    return funcs


def _fixed_code(func):
    """``func``'s code recompiled without the wrong handler argument (None: nothing to fix)."""
    source = textwrap.dedent(inspect.getsource(func))
    if _BAD_ARGUMENT not in source:
        return None
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith("@")]
    fixed = "\n".join(ln for ln in lines if ln.strip() != _BAD_ARGUMENT)
    namespace: dict = {}
    exec(
        compile(fixed, inspect.getsourcefile(func) or "<bioimageio>", "exec"),
        func.__globals__,
        namespace,
    )  # noqa: S102
    return namespace[func.__name__].__code__


def patch_bioimageio() -> bool:
    """Apply the fix once (see the module documentation).

    Returns
    -------
    bool
        Whether any code was swapped (by this call or an earlier one).
    """
    global _patched
    if not _patched:
        for func in _serializers():
            code = _fixed_code(func)
            if code is not None and not code.co_freevars:
                func.__code__ = code
                _patched = True
    return _patched
