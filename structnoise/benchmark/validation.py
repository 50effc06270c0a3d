"""Before a run: import the configuration's plugins and check its method and dataset names."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from structnoise.benchmark.errors import ConfigError

if TYPE_CHECKING:
    from structnoise.benchmark.schema import RunConfig


def import_plugins(plugins: list[str]) -> None:
    """Import plugin files or modules (they register methods as a side effect).

    Parameters
    ----------
    plugins : list of str
        ``.py`` file paths or importable module names.

    Raises
    ------
    ConfigError
        If a file does not exist or a module cannot be imported.
    """
    for plugin in plugins:
        if plugin.endswith(".py"):
            path = Path(plugin)
            if not path.is_file():
                raise ConfigError(f"plugin file {plugin} does not exist")
            name = (
                "structnoise_plugin_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
            )
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - the plugin's own code failed
                del sys.modules[name]
                raise ConfigError(_plugin_failed(plugin, exc)) from None
        else:
            try:
                importlib.import_module(plugin)
            except ImportError as exc:
                raise ConfigError(f"cannot import plugin module {plugin!r}: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - the plugin's own code failed
                raise ConfigError(_plugin_failed(plugin, exc)) from None


def _plugin_failed(plugin: str, exc: BaseException) -> str:
    """One line: which plugin failed to import, where and why."""
    if isinstance(exc, SyntaxError):
        where = f"line {exc.lineno}: " if exc.lineno else ""
        return f"plugin {plugin} has a syntax error ({where}{exc.msg}); fix the file"
    tb = exc.__traceback__
    line = None
    while tb is not None:  # the deepest frame inside the plugin file
        if tb.tb_frame.f_code.co_filename.endswith(Path(plugin).name):
            line = tb.tb_lineno
        tb = tb.tb_next
    where = f" at line {line}" if line else ""
    detail = (str(exc).splitlines() or [""])[0][:200]
    return (
        f"plugin {plugin} failed while being imported{where} ({type(exc).__name__}: {detail}); "
        "fix the plugin or remove it from the configuration's plugins"
    )


def registered_datasets() -> list[str]:
    """Names the datasets layer knows (empty if it is not installed).

    Returns
    -------
    list of str
    """
    try:
        from structnoise.datasets import list_datasets
    except ImportError:
        return []
    names = []
    for item in list_datasets():
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):
            names.append(item["name"])
        else:
            names.append(item.name)
    return names


def _hint(unknown: list[str], known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the unknown names close to a known one."""
    close = [m[0] for n in unknown if (m := difflib.get_close_matches(n, known, n=1))]
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def validate_names(cfg: RunConfig, *, before_plugins: bool = False) -> None:
    """Check that every method and dataset of ``cfg`` exists.

    Dataset names never depend on plugins (the dataset catalogue is fixed), so they are
    always checked. Method names may be registered by the config's ``plugins``.

    Parameters
    ----------
    cfg : RunConfig
        The configuration.
    before_plugins : bool
        The check made before the config's plugins are imported: unknown datasets are
        reported, and unknown methods too when the config lists no plugins; an unknown
        method name with plugins listed is left for the check after the import.

    Raises
    ------
    ConfigError
        Naming the unknown entries and listing what exists (one line).
    """
    datasets = registered_datasets()
    unknown = [d for d in cfg.datasets if isinstance(d, str) and d not in datasets]
    if unknown:
        raise ConfigError(
            f"unknown dataset(s) {', '.join(map(repr, unknown))}; available datasets: "
            f"{', '.join(datasets) or '(none registered)'} (or give a mapping with "
            f"name/train_noisy/test_noisy/test_clean files){_hint(unknown, datasets)}"
        )
    from structnoise.methods import list_methods

    known = list_methods()
    unknown = [s.name for s in cfg.methods if s.name not in known]
    if unknown and not (before_plugins and cfg.plugins):
        raise ConfigError(
            f"unknown method(s) {', '.join(map(repr, unknown))}; registered methods: "
            f"{', '.join(known) or '(none)'}"
            + (f" (plugins imported: {', '.join(cfg.plugins)})" if cfg.plugins else "")
            + _hint(unknown, known)
        )
