import os

import numpy as np
import pytest

# Keep tests quiet and small: no progress bars, two threads at most.
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """Every test gets its own data cache and working directory (nothing leaks out)."""
    monkeypatch.setenv("STRUCTNOISE_DATA", str(tmp_path / "data-cache"))
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
