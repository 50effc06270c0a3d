"""CPU threads: each process uses the cores it is given, not every core of the machine.

torch (and the BLAS/OpenMP libraries under NumPy and SciPy) start one thread per core of
the machine by default. On a shared machine, in a container or a SLURM job limited to a
few cores, or with several structnoise processes side by side, those threads wait on each
other: each parallel operation waits for its slowest thread, which the scheduler has
taken away, and steps become many times slower.

:func:`available_cores` counts the cores this process may use: its CPU affinity
(``os.sched_getaffinity``: ``taskset``, SLURM's ``--cpus-per-task``, ``docker --cpuset``)
and the cgroup CPU quota (``/sys/fs/cgroup/cpu.max``; ``docker --cpus``, Kubernetes
limits), whichever is smaller. :func:`default_threads` divides them among the processes
that run at once; :func:`use_threads` sets torch's thread count (the ``--threads`` option
of ``train``, ``denoise`` and ``run``; without it ``OMP_NUM_THREADS`` where set, else the
process's share of its cores). See ``docs/threads.md``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: cgroup v2's CPU limit: ``"<quota> <period>"`` or ``"max <period>"``.
CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")

#: cgroup v1's CPU limit: quota and period in microseconds (quota -1: none).
CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


def _affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def cgroup_quota_cores(v2: Path | None = None, v1: tuple[Path, Path] | None = None) -> float | None:
    """Cores allowed by the cgroup CPU quota (None: no quota, or no cgroup to read).

    Parameters
    ----------
    v2 : Path, optional
        cgroup v2's ``cpu.max`` (default :data:`CGROUP_V2`).
    v1 : (Path, Path), optional
        cgroup v1's ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (default
        :data:`CGROUP_V1`).

    Returns
    -------
    float or None
        Quota / period, e.g. 1.5 for ``150000 100000``.
    """
    v2 = CGROUP_V2 if v2 is None else v2
    v1 = CGROUP_V1 if v1 is None else v1
    try:
        quota, period = v2.read_text().split()[:2]
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota, period = (int(p.read_text().strip()) for p in v1)
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by the cgroup CPU quota.

    Returns
    -------
    int
        At least 1.
    """
    cores = _affinity_cores()
    quota = cgroup_quota_cores()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def default_threads(parallel: int = 1) -> int:
    """Threads for each of ``parallel`` processes sharing this process's cores.

    Parameters
    ----------
    parallel : int
        Processes that run at once on these cores (e.g. a benchmark's cells run as
        local jobs side by side).

    Returns
    -------
    int
        ``available_cores() // parallel``, at least 1.
    """
    return max(1, available_cores() // max(1, int(parallel)))


def check_threads(threads: int | None) -> int | None:
    """Validate a ``--threads`` value (None: choose automatically).

    Parameters
    ----------
    threads : int, optional
        The requested thread count.

    Returns
    -------
    int or None

    Raises
    ------
    ValueError
        When ``threads`` is below 1.
    """
    if threads is None:
        return None
    if int(threads) < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    return int(threads)


def env_threads() -> int | None:
    """``OMP_NUM_THREADS`` when it is set to a whole number of at least 1, else None."""
    try:
        n = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return n if n >= 1 else None


def use_threads(threads: int | None = None, parallel: int = 1) -> int:
    """Set torch's CPU thread count and return it.

    The count is ``threads`` when given (``--threads``), else ``OMP_NUM_THREADS`` when
    the environment sets it (the user's explicit choice), else this process's share of
    its cores (:func:`default_threads`).

    Parameters
    ----------
    threads : int, optional
        The thread count (``--threads``).
    parallel : int
        Processes sharing the cores (only when neither ``threads`` nor
        ``OMP_NUM_THREADS`` is given).

    Returns
    -------
    int
        The thread count set.
    """
    import torch

    n = check_threads(threads) or env_threads() or default_threads(parallel)
    torch.set_num_threads(n)
    return n
