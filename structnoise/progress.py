"""Progress that suits its reader: a live bar on a terminal, plain lines in a log file.

On a terminal, :func:`progress_bar` is a ``tqdm`` bar. When stderr is a file or a pipe
(CI logs, ``nohup``, SLURM), a bar's carriage-return updates would pile up in one line
of the log, so :func:`progress_bar` returns a :class:`LineProgress` instead: one plain
line every :data:`STEP_PERCENT` percent (steps, what ``set_postfix`` shows, e.g. the
loss, elapsed time and ETA), or every :data:`HEARTBEAT_S` seconds when the total is
unknown or the work is slow, and a last line when it ends. A bar that ends within
:data:`QUIET_S` seconds writes nothing (a short tile loop does not clutter the log).

Set ``STRUCTNOISE_PROGRESS=lines`` (or ``bar``) to choose the form regardless of the
stream; ``TQDM_DISABLE=1`` (tqdm's switch) silences the lines as well as the bars.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

#: A line each time this many more percent of the total are done.
STEP_PERCENT = 5.0

#: At most this many seconds between lines while work goes on (also without a total).
HEARTBEAT_S = 300.0

#: A bar that ends sooner than this writes no line at all; lines are at least this far apart.
QUIET_S = 2.0

#: Environment variable forcing ``lines`` or ``bar``.
ENV = "STRUCTNOISE_PROGRESS"


def is_terminal(stream: IO | None = None) -> bool:
    """Whether progress written to ``stream`` (default stderr) is shown as a live bar.

    Parameters
    ----------
    stream : file-like, optional
        The stream; default :data:`sys.stderr`.

    Returns
    -------
    bool
        True for a terminal (or ``STRUCTNOISE_PROGRESS=bar``), False for a file or a
        pipe (or ``STRUCTNOISE_PROGRESS=lines``).
    """
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("lines", "bar"):
        return forced == "bar"
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class LineProgress:
    """A ``tqdm``-like progress display that writes plain lines (no carriage returns).

    It implements what structnoise uses of ``tqdm``: iteration, ``update``,
    ``set_postfix``, ``set_postfix_str``, ``write``, ``close``, ``n`` and ``total``, and
    the context-manager protocol.

    Parameters
    ----------
    iterable : iterable, optional
        Items to iterate over (``total`` defaults to its length).
    total : int, optional
        Number of units of work (None: unknown; lines come every :data:`HEARTBEAT_S`).
    desc : str
        Label at the start of each line.
    unit : str
        Name of one unit of work.
    disable : bool
        Write nothing.
    file : file-like, optional
        Where lines go (default stderr).
    step_percent, heartbeat_s, quiet_s : float
        See :data:`STEP_PERCENT`, :data:`HEARTBEAT_S`, :data:`QUIET_S`.
    **_ :
        Other ``tqdm`` arguments (``leave``, ``dynamic_ncols``, ...), ignored.
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        file: IO | None = None,
        initial: int = 0,
        step_percent: float = STEP_PERCENT,
        heartbeat_s: float = HEARTBEAT_S,
        quiet_s: float = QUIET_S,
        **_: Any,
    ) -> None:
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.file = file
        self.n = int(initial)
        self.postfix = ""
        self.step_percent = float(step_percent)
        self.heartbeat_s = float(heartbeat_s)
        self.quiet_s = float(quiet_s)
        self.start = time.monotonic()
        self.last_time = self.start
        self.last_n = self.n
        self.lines = 0
        self.closed = False

    # -- tqdm's interface ------------------------------------------------------------
    def __iter__(self) -> Iterator:
        for item in self.iterable if self.iterable is not None else ():
            yield item
            self.update(1)
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __bool__(self) -> bool:  # a display is true even while its total is 0 or unknown
        return True

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; write a line when one is due."""
        self.n += n
        if self.disable or self.closed:
            return
        now = time.monotonic()
        if now - self.last_time < self.quiet_s:
            return
        if self.total:
            step = max(1.0, self.total * self.step_percent / 100.0)
            due = int(self.n / step) > int(self.last_n / step)
        else:
            due = False
        if due or now - self.last_time >= self.heartbeat_s:
            self._emit(now)

    def reset(self, total: int | None = None) -> None:
        """Count from 0 again (as ``tqdm.reset``; pooch calls it before its last update)."""
        self.n = self.last_n = 0
        if total is not None:
            self.total = total

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw) -> None:
        """Show ``key=value`` pairs (e.g. the loss) in the next line."""
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Show ``s`` in the next line."""
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Change the label."""
        self.desc = desc or ""

    def refresh(self) -> None:
        """Nothing to redraw (lines are written when due)."""

    def write(self, text: str, file: IO | None = None, end: str = "\n") -> None:
        """Write a message line (as ``tqdm.write``)."""
        out = file or self.file or sys.stderr
        out.write(f"{text}{end}")
        out.flush()

    def close(self) -> None:
        """Write the last line (unless the work ended within :data:`QUIET_S` seconds)."""
        if self.closed:
            return
        self.closed = True
        if self.disable or self.n == self.last_n:
            return
        now = time.monotonic()
        if self.lines or now - self.start >= self.quiet_s:
            self._emit(now)

    # -- the line ------------------------------------------------------------------------
    def format_line(self, now: float | None = None) -> str:
        """The progress line: label, count, percent, postfix, elapsed time and ETA."""
        now = time.monotonic() if now is None else now
        elapsed = now - self.start
        parts = [f"{self.desc}: " if self.desc else ""]
        if self.total:
            parts.append(f"{self.n}/{self.total} {self.unit} ({100.0 * self.n / self.total:.0f}%)")
        else:
            parts.append(f"{self.n} {self.unit}")
        if self.postfix:
            parts.append(f", {self.postfix}")
        parts.append(f", elapsed {_clock(elapsed)}")
        if self.total and 0 < self.n < self.total:
            parts.append(f", eta {_clock(elapsed / self.n * (self.total - self.n))}")
        return "".join(parts)

    def _emit(self, now: float) -> None:
        out = self.file or sys.stderr
        out.write(self.format_line(now) + "\n")
        out.flush()
        self.lines += 1
        self.last_time = now
        self.last_n = self.n


def progress_bar(iterable: Iterable | None = None, **kwargs: Any):
    """A live ``tqdm`` bar on a terminal, else a :class:`LineProgress` (plain lines).

    Parameters
    ----------
    iterable : iterable, optional
        Items to iterate over.
    **kwargs
        ``tqdm``'s arguments (``total``, ``desc``, ``unit``, ``disable``, ``leave``, ...).

    Returns
    -------
    tqdm.tqdm or LineProgress
    """
    file = kwargs.get("file")
    if is_terminal(file):
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    if os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        kwargs["disable"] = True  # tqdm's own switch, honoured by the lines too
    return LineProgress(iterable, **kwargs)


def download_progress(name: str):
    """Pooch's ``progressbar`` argument: True (its own bar) on a terminal, else lines.

    Parameters
    ----------
    name : str
        The file downloaded.

    Returns
    -------
    bool or LineProgress
    """
    if is_terminal():
        return True
    return progress_bar(desc=f"downloading {name}", unit="bytes")
