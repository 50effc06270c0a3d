"""structnoise: unsupervised removal of structured, signal-dependent noise.

The suite reproduces "Unsupervised Structured Noise Removal with Variational Lossy
Autoencoder" (DVLAE, Salmon & Krull) and benchmarks it against its baselines.

Sub-packages
------------
structnoise.methods
    The method registry (DVLAE, SN2V, N2V, CARE, HDN, HDN36, classical references).
structnoise.datasets
    Real datasets (pooch), synthetic structured-noise generators and embedded default data.
structnoise.benchmark
    Benchmark runner, results table, the paper's tables and figures.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("structnoise")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
