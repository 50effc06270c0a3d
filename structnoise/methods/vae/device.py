"""Device, arithmetic and CPU threads of the ladder-VAE methods.

* :func:`resolve_precision` / :func:`autocast`: bfloat16 where the hardware runs it faster.
  On CPUs with native bfloat16 instructions (e.g. AVX512-BF16, AMX) oneDNN runs
  convolutions in bfloat16 about twice as fast as in float32; elsewhere bfloat16 is
  emulated and slower, so "auto" decides with a short probe instead of guessing from CPU
  flags.
* :func:`rng_devices`: the devices whose random state ``torch.random.fork_rng`` saves.
* :class:`ThreadTuner`: the faster of ``n`` and 1 CPU threads, re-checked while training.
"""

from __future__ import annotations

import contextlib
import functools
import time

import numpy as np
import torch

from structnoise.methods.vae.options import Precision, parse_choice


def is_cuda(device: str) -> bool:
    """Whether ``device`` names a GPU (``cuda``, ``cuda:1``)."""
    return str(device).startswith("cuda")


def rng_devices(device: str) -> list[int]:
    """Devices whose RNG ``torch.random.fork_rng`` must save (none on the CPU).

    Parameters
    ----------
    device : str
        Torch device string.

    Returns
    -------
    list of int
    """
    if not is_cuda(device):
        return []
    dev = torch.device(device)
    return [dev.index if dev.index is not None else torch.cuda.current_device()]


@functools.lru_cache(maxsize=8)
def _cpu_bf16_faster() -> bool:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # its own random state: the probe (a layer's initialisation, a random input) must not
        # move torch's global generator, or a process's first training would differ from
        # the same seed's later ones
        with torch.random.fork_rng(devices=[]), torch.no_grad():
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


def resolve_precision(precision: str, device: str) -> Precision:
    """Turn ``"auto"`` into ``"32"`` or ``"bf16"`` for ``device``.

    The first "auto" on a CPU runs a short timing probe (once per process); it leaves
    torch's global random generator as it found it.

    Parameters
    ----------
    precision : {"32", "bf16", "auto"}
        The requested arithmetic.
    device : str
        Torch device string.

    Returns
    -------
    Precision
        :attr:`Precision.FLOAT32` or :attr:`Precision.BF16`.
    """
    precision = parse_choice(Precision, precision, "precision")
    if precision is not Precision.AUTO:
        return precision
    if is_cuda(device):
        return Precision.BF16 if torch.cuda.is_bf16_supported() else Precision.FLOAT32
    return Precision.BF16 if _cpu_bf16_faster() else Precision.FLOAT32


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
    if precision != Precision.BF16:
        return contextlib.nullcontext()
    return torch.autocast("cuda" if is_cuda(device) else "cpu", dtype=torch.bfloat16)


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float32 if it is in a narrower float type (bfloat16, float16), else ``t``.

    Loss terms and output layers run in float32 under bfloat16 autocast; a float64
    network (the equivalence check against the authors' code) stays in float64.

    Parameters
    ----------
    t : torch.Tensor
        Any floating-point tensor.

    Returns
    -------
    torch.Tensor
    """
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def memory_format(channels_last: bool) -> torch.memory_format:
    """``torch.channels_last`` or the default contiguous layout.

    Parameters
    ----------
    channels_last : bool
        Whether to use the channels-last layout (faster convolutions on CPUs).

    Returns
    -------
    torch.memory_format
    """
    return torch.channels_last if channels_last else torch.contiguous_format


class ThreadTuner:
    """Pick the faster of ``n`` and 1 CPU threads, again and again, while training.

    On a CPU shared with other busy processes, several threads per process can be many
    times slower than one (each parallel operation waits for its slowest thread, which
    the scheduler may have taken away); on an idle machine they are faster. The tuner
    times training steps with each setting and keeps the faster one, re-checking the
    other every ``every`` steps for ``probe`` steps.

    Parameters
    ----------
    max_threads : int
        The larger setting (torch's thread count when training starts).
    probe : int
        Steps timed after each switch (the first is a warm-up and not counted).
    every : int
        Steps between re-checks.
    """

    def __init__(self, max_threads: int, probe: int = 4, every: int = 60) -> None:
        self.original = torch.get_num_threads()
        self.options = [max_threads, 1] if max_threads > 1 else [1]
        self.probe = probe
        self.every = every
        self.best = self.options[0]
        self.current = self.best
        self.recent: dict[int, list[float]] = {n: [] for n in self.options}
        self.steps_at: dict[int, int] = {n: 0 for n in self.options}
        self.since_switch = 0
        self.probing = len(self.options) > 1
        self._t = 0.0
        torch.set_num_threads(self.current)

    @classmethod
    def for_setting(cls, threads: str | None, device: str) -> ThreadTuner | None:
        """A tuner for a profile's ``threads`` setting, or None where it has nothing to do.

        Parameters
        ----------
        threads : {"auto", "fixed"} or None
            "auto" tunes; None or "fixed" leave torch's setting.
        device : str
            Torch device (only CPU training is tuned).

        Returns
        -------
        ThreadTuner or None
        """
        if threads not in (None, "auto", "fixed"):
            raise ValueError(f"threads must be 'auto' or 'fixed', got {threads!r}")
        if threads == "auto" and not is_cuda(device) and torch.get_num_threads() > 1:
            return cls(torch.get_num_threads())
        return None

    def start_step(self) -> None:
        """Call before a training step."""
        self._t = time.perf_counter()

    def end_step(self) -> None:
        """Call after a training step; may switch the thread count."""
        dt = time.perf_counter() - self._t
        self.steps_at[self.current] += 1
        self.since_switch += 1
        if self.since_switch > 1:  # the first step after a switch warms up
            times = self.recent[self.current]
            times.append(dt)
            del times[: -self.probe]
        if len(self.options) < 2:
            return
        other = self.options[1] if self.current == self.options[0] else self.options[0]
        if self.probing and self.since_switch >= self.probe + 1:
            mine, theirs = self.recent[self.current], self.recent[other]
            if theirs and np.median(theirs) < np.median(mine):
                self._switch(other)
            self.best = self.current
            self.probing = False
        elif not self.probing and self.since_switch >= self.every:
            self._switch(other)
            self.probing = True

    def _switch(self, n: int) -> None:
        self.current = n
        self.since_switch = 0
        torch.set_num_threads(n)

    def restore(self) -> None:
        """Put torch's thread count back."""
        torch.set_num_threads(self.original)

    def summary(self) -> dict:
        """Steps trained at each thread count."""
        return {str(k): v for k, v in self.steps_at.items()}
