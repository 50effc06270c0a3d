"""Ctrl-C (SIGINT) and SIGTERM: stop within seconds, keep what is finished, exit 130 / 143.

Python turns SIGINT into ``KeyboardInterrupt``, but Lightning catches that inside
``Trainer.fit`` and ends the process with ``sys.exit(1)`` after ignoring every further
Ctrl-C, and it answers SIGTERM by only noting it (training goes on, the process then ends
with status 0). Inside :func:`interruptible`, both signals raise :class:`Interrupted`
instead: a ``BaseException`` that Lightning passes on (after its own clean-up), that no
``except Exception`` of a cell or a method catches, so that a cell cut short is never
recorded, and that the commands turn into the shell's exit statuses (128 + the signal's
number: 130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: The signals :func:`interruptible` handles.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):  # noqa: N818 - it is not an error
    """The process was asked to stop (SIGINT or SIGTERM).

    Parameters
    ----------
    signum : int
        The signal's number.

    Attributes
    ----------
    signum : int
        The signal's number.
    exit_status : int
        ``128 + signum``, the shell's convention (130 for SIGINT, 143 for SIGTERM).
    name : str
        ``"SIGINT"`` or ``"SIGTERM"``.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        self.exit_status = 128 + self.signum
        super().__init__(f"interrupted by {self.name}")


def _raise(signum, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM raise :class:`Interrupted` (outside: as before).

    A signal this process was started ignoring stays ignored (the convention Python
    follows for SIGINT: a shell starts its background jobs so that Ctrl-C does not reach
    them). A no-op outside the main thread (where Python cannot set signal handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if previous[s] is not signal.SIG_IGN:  # e.g. SIGINT of a shell's background job
            signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM wait: :class:`Interrupted` is raised when the block ends.

    For short work that must not be cut in half (renaming a saved model into place). A
    signal this process was started ignoring stays ignored; an exception of the block
    itself goes on instead. A no-op outside the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    if received:
        raise Interrupted(received[0])
