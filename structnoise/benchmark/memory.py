"""Peak memory of one benchmark cell, measured inside a long-running process.

The local executor runs every cell in the same process, so the process-wide high-water
mark (``ru_maxrss``) would only ever grow. Instead:

* **CPU (Linux)**: before the cell, the kernel's RSS high-water mark of this process is
  reset by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0); after the cell,
  ``VmHWM`` in ``/proc/self/status`` is the exact peak resident set size reached *during
  the cell* (it includes what the process already held: the interpreter, imported
  libraries and the loaded dataset, typically a few hundred MB).
* **CPU (elsewhere, or when ``clear_refs`` is not writable)**: a background thread
  samples the resident set size every 20 ms (``psutil`` when installed, else
  ``/proc/self/statm``, else the non-resettable ``ru_maxrss``); short spikes between two
  samples can be missed.
* **GPU**: ``torch.cuda.reset_peak_memory_stats()`` before and
  ``torch.cuda.max_memory_allocated()`` after (memory held by tensors; the CUDA context
  itself is not counted), only when torch is already imported and CUDA initialised.

Slurm jobs run one cell per process, where the same measurement applies.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path

_MB = 1024 * 1024


def _read_status_kb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def _current_rss_bytes() -> float | None:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return float(pages * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _read_status_kb("VmHWM") is not None


def _cuda_ready():
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch
    except Exception:  # pragma: no cover - broken CUDA set-ups
        return None
    return None


class PeakMemory:
    """Context manager measuring the peak RSS (and GPU memory) of the enclosed code.

    Attributes
    ----------
    rss_mb : float
        Peak resident set size of the process during the block, in MiB.
    gpu_mb : float or None
        Peak GPU memory allocated by torch during the block, in MiB (None without CUDA).
    how : str
        ``"vmhwm"``, ``"sampled"`` or ``"ru_maxrss"``: the measurement used (see module
        docstring).

    Examples
    --------
    >>> with PeakMemory() as mem:
    ...     x = bytearray(50 * 1024 * 1024)
    >>> mem.rss_mb > 50  # doctest: +SKIP
    True
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.rss_mb = float("nan")
        self.gpu_mb: float | None = None
        self.how = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0.0

    def __enter__(self) -> PeakMemory:
        torch = _cuda_ready()
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
        if _reset_hwm():
            self.how = "vmhwm"
        elif _current_rss_bytes() is not None:
            self.how = "sampled"
            self._peak = _current_rss_bytes() or 0.0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:  # pragma: no cover - neither /proc nor psutil
            self.how = "ru_maxrss"
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _current_rss_bytes()
            if rss is not None and rss > self._peak:
                self._peak = rss
        rss = _current_rss_bytes()
        if rss is not None and rss > self._peak:
            self._peak = rss

    def __exit__(self, *exc) -> None:
        if self.how == "vmhwm":
            self.rss_mb = (_read_status_kb("VmHWM") or float("nan")) / 1024
        elif self.how == "sampled":
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.rss_mb = self._peak / _MB
        else:  # pragma: no cover
            scale = 1 if sys.platform == "darwin" else 1024
            self.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / _MB
        torch = _cuda_ready()
        if torch is not None:
            self.gpu_mb = torch.cuda.max_memory_allocated() / _MB
