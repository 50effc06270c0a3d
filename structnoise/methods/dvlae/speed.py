"""Arithmetic choices for speed: bfloat16 autocast where the hardware runs it faster.

On CPUs with native bfloat16 instructions (e.g. AVX512-BF16, AMX) oneDNN runs
convolutions in bfloat16 about twice as fast as in float32; elsewhere bfloat16 is
emulated and slower. :func:`resolve_precision` decides with a short probe instead of
guessing from CPU flags.
"""

from __future__ import annotations

import contextlib
import functools
import time


@functools.lru_cache(maxsize=8)
def _cpu_bf16_faster() -> bool:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            conv = torch.nn.Conv2d(32, 32, 3, padding=1)
            x = torch.randn(4, 32, 48, 48)

            def best(fn) -> float:
                times = []
                for _ in range(4):
                    t0 = time.thread_time()
                    fn()
                    times.append(time.thread_time() - t0)
                return min(times[1:])

            t32 = best(lambda: conv(x))

            def bf16():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    conv(x)

            t16 = best(bf16)
    finally:
        torch.set_num_threads(threads)
    return t16 < 0.75 * t32


def resolve_precision(precision: str, device: str) -> str:
    """Turn ``"auto"`` into ``"32"`` or ``"bf16"`` for ``device``.

    Parameters
    ----------
    precision : {"32", "bf16", "auto"}
        The requested arithmetic.
    device : str
        Torch device string.

    Returns
    -------
    str
        ``"32"`` or ``"bf16"``.
    """
    if precision not in ("32", "bf16", "auto"):
        raise ValueError(f"unknown precision {precision!r}: expected '32', 'bf16' or 'auto'")
    if precision != "auto":
        return precision
    import torch

    if str(device).startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "32"
    return "bf16" if _cpu_bf16_faster() else "32"


def autocast(precision: str, device: str):
    """An autocast context for ``precision`` (a no-op for float32).

    Parameters
    ----------
    precision : {"32", "bf16"}
        Resolved precision.
    device : str
        Torch device string.

    Returns
    -------
    context manager
    """
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=torch.bfloat16)
