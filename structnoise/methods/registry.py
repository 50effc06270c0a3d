"""The method registry: ``@register("name")`` on a class or a factory, ``create``, ``list_methods``.

Built-in methods live in the modules listed in ``_BUILTIN_MODULES`` and register
themselves when imported; the registry imports them on first use. Outside packages add
methods through the entry-point group ``structnoise.methods``: the entry point names a
module (importing it runs its ``@register`` decorators) or a zero-argument function that
registers. For example, in the outside package's ``pyproject.toml``::

    [project.entry-points."structnoise.methods"]
    mymethod = "mypackage.denoisers"

Tests that register methods of their own, or replace one, do so inside
:func:`temporary`, which puts the registry back as it was; :func:`reset` forgets every
method registered after the built-ins and plugins were loaded.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib
import os
import pickle
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from structnoise.methods.base import ModelFolderError, read_method_json
from structnoise.methods.contract import Denoiser, MethodInfo

ENTRY_POINT_GROUP = "structnoise.methods"

_BUILTIN_MODULES = (
    "structnoise.methods.classical",
    "structnoise.methods.blind_bm3d",
    "structnoise.methods.destriping",
    "structnoise.methods.wavelet_fft",
    "structnoise.methods.dvlae",
    "structnoise.methods.unet",
    "structnoise.methods.hdn",
)


@dataclass(frozen=True)
class Entry:
    """A registered method: its name, how to build it, its declared needs.

    Attributes
    ----------
    name : str
        The registered name.
    factory : callable
        What :func:`create` calls with the method's parameters: the registered class or
        function, or, for a name that fixes parameters, a function calling the class with
        them.
    info : MethodInfo
        What the method needs and offers.
    method : callable
        The registered class (or function) itself, for asking what it offers.
    defaults : dict
        Parameters the name fixes (e.g. ``variant="small"`` of ``dvlae-small``).
    """

    name: str
    factory: Callable[..., Denoiser]
    info: MethodInfo
    method: Callable[..., Denoiser]
    defaults: dict = field(default_factory=dict)


def _fixing(name: str, method: Callable[..., Denoiser], defaults: dict):
    """A factory calling ``method`` with the parameters ``name`` fixes (others refused)."""

    def factory(**params):
        clash = {k: v for k, v in defaults.items() if k in params and params[k] != v}
        if clash:
            key, value = next(iter(clash.items()))
            raise TypeError(f"{name} is {key}={value!r}; it does not take {key}={params[key]!r}")
        return method(**{**params, **defaults})

    factory.__module__ = method.__module__
    factory.__name__ = factory.__qualname__ = f"{method.__qualname__}[{name}]"
    factory.__doc__ = f"Build ``{name}``: {method.__qualname__} with {defaults}."
    return factory


_REGISTRY: dict[str, Entry] = {}
_loaded = False
#: The registry right after the built-ins and plugins were loaded (what :func:`reset`
#: returns to).
_BASELINE: dict[str, Entry] = {}


def register(name: str, *, info: MethodInfo | None = None, replace: bool = False, **defaults):
    """Register a method class, or a factory that builds one, under ``name`` (decorator).

    ``create(name, **params)`` calls the class (or factory) with ``defaults`` and
    ``params``: variants of one class are registered as one class with other defaults,
    e.g. ``register("dvlae-large", info=INFO_LARGE, variant="large")(DVLAE)``.

    Parameters
    ----------
    name : str
        The public name (e.g. ``"dvlae-small"``); must be unique.
    info : MethodInfo, optional
        What the method needs; defaults to the ``info`` attribute of the decorated class
        (or factory), else ``MethodInfo()``.
    replace : bool
        Replace a method registered under ``name`` (for tests, inside
        :func:`temporary`); otherwise a second factory for a name is refused.
    **defaults
        Parameters this name fixes (``create`` refuses other values for them).

    Returns
    -------
    callable
        The decorator, which returns the class or factory unchanged.

    Examples
    --------
    >>> from structnoise.methods import register, BaseDenoiser
    >>> @register("my-identity")
    ... class MyIdentity(BaseDenoiser):
    ...     def _fit(self, noisy, clean, val):
    ...         pass
    ...     def _denoise(self, noisy):
    ...         return noisy  # doctest: +SKIP
    """

    def decorator(method: Callable[..., Denoiser]) -> Callable[..., Denoiser]:
        if name in _REGISTRY and _REGISTRY[name].method is not method and not replace:
            old = _REGISTRY[name].method
            if (old.__module__, old.__qualname__) != (method.__module__, method.__qualname__):
                raise ValueError(f"a method named {name!r} is already registered")
        entry_info = info or getattr(method, "info", None) or MethodInfo()
        factory = _fixing(name, method, defaults) if defaults else method
        _REGISTRY[name] = Entry(name, factory, entry_info, method, dict(defaults))
        return method

    return decorator


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, type):
                obj()
        except Exception as exc:  # an outside package must not break the suite
            warnings.warn(
                f"could not load method plugin {ep.name!r} ({ep.value}): {exc}",
                stacklevel=2,
            )
    _BASELINE.update(_REGISTRY)


def reset() -> None:
    """Forget every method registered after the built-ins and plugins were loaded."""
    _ensure_loaded()
    _REGISTRY.clear()
    _REGISTRY.update(_BASELINE)


@contextlib.contextmanager
def temporary() -> Iterator[None]:
    """Undo, on leaving the block, every registration made inside it (for tests).

    Methods registered inside the block (also with ``register(..., replace=True)`` over
    a built-in) are visible there only; afterwards the registry is as before.

    Yields
    ------
    None

    Examples
    --------
    >>> from structnoise.methods import registry
    >>> with registry.temporary():  # doctest: +SKIP
    ...     registry.register("spy", replace=True)(MySpy)
    """
    _ensure_loaded()
    saved = dict(_REGISTRY)
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


def list_methods(pattern: str = "*") -> list[str]:
    """Names of the registered methods matching a glob pattern, sorted.

    Parameters
    ----------
    pattern : str
        A glob such as ``"dvlae*"``.

    Returns
    -------
    list of str
    """
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> Entry:
    """The registry entry of ``name``; an unknown name raises a KeyError listing all.

    Parameters
    ----------
    name : str
        A registered method name.

    Returns
    -------
    Entry
    """
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"unknown method {name!r}; registered methods: {known}") from None


def method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of a registered method.

    Parameters
    ----------
    name : str
        A registered method name.

    Returns
    -------
    MethodInfo
    """
    return get_entry(name).info


def create(name: str, **params) -> Denoiser:
    """Build a registered method.

    Parameters
    ----------
    name : str
        A registered name (see :func:`list_methods`).
    **params
        Passed to the method's class or factory with the parameters the name fixes
        (``seed``, ``profile``, ``max_minutes``, ``axis`` ...).

    Returns
    -------
    Denoiser
        A new, unfitted method.
    """
    method = get_entry(name).factory(**params)
    try:
        method.name = name
    except AttributeError:  # pragma: no cover - outside method with a read-only name
        pass
    return method


def load(path: str | os.PathLike) -> Denoiser:
    """Restore any method saved with ``save(path)``.

    Parameters
    ----------
    path : path-like
        The folder holding ``method.json``.

    Returns
    -------
    Denoiser
        The method with its learnt state, ready to ``denoise``.
    """
    path = Path(path)
    meta_file = path / "method.json"
    meta = read_method_json(path)
    name, params = meta["method"], meta["params"]
    try:
        method = create(name, **params)
    except KeyError as exc:
        raise ModelFolderError(f"{meta_file}: {exc.args[0] if exc.args else exc}") from None
    except (TypeError, ValueError) as exc:
        raise ModelFolderError(
            f"{meta_file}: params: {exc}; the file was edited or damaged: fix the value or "
            "train the model again"
        ) from None
    if not hasattr(method, "load_state"):
        raise TypeError(f"method {name!r} has no load_state(path); it cannot be restored")
    try:
        method.load_state(path)
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if exc.filename else "a file"
        raise FileNotFoundError(
            f"{path}: the saved {name} model is incomplete ({missing} is missing); train it again"
        ) from exc
    except ModelFolderError:
        raise
    except pickle.UnpicklingError as exc:
        code = _named_code(str(exc))
        if code:
            raise ModelFolderError(
                f"{path}: refused to load the saved {name} model: its weights file names code "
                f"({code}), not only tensors, and loading it could run that code; use a model "
                "you trained yourself, or train it again"
            ) from None
        raise _corrupt(path, name, exc) from exc
    except (
        OSError,
        EOFError,
        RuntimeError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as exc:
        raise _corrupt(path, name, exc) from exc
    if meta.get("fitted", True) and getattr(method, "fitted", True) is False:
        present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        raise FileNotFoundError(
            f"{path}: the saved {name} model is incomplete (its learnt weights are missing; "
            f"the folder holds {present}); train it again"
        )
    return method


def _named_code(message: str) -> str:
    """The code a refused ``torch.load(weights_only=True)`` names (``''``: none named)."""
    import re

    found = re.findall(r"GLOBAL ([\w.]+)", message)
    return ", ".join(dict.fromkeys(found))


def _corrupt(path: Path, name: str, exc: BaseException) -> ModelFolderError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ModelFolderError(
        f"{path}: the saved {name} model cannot be read, its files are corrupt or "
        f"truncated ({detail[:200]}); train it again"
    )
