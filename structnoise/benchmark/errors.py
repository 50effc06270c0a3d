"""The benchmark's configuration error (a leaf: every benchmark module may raise it)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A run configuration is invalid (unknown method or dataset, bad YAML, bad key)."""
