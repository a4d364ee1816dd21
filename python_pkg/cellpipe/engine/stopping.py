"""A stop request that cannot be lost.

Ctrl-C, SIGTERM and the panel's Cancel (SIGINT to the run's process group) stop a
run by raising :class:`KeyboardInterrupt` in the main thread. Python runs a signal
handler wherever the main thread happens to be, and when that is a weakref callback,
a ``__del__`` or a library's ``except BaseException`` the exception is swallowed
("Exception ignored in: ...") and the run would go on, waiting for steps nobody is
stopping. So the handler notes the request before raising, and the runner's loop
asks :func:`check` on every turn: a swallowed interrupt still stops the run within
one turn of the loop.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_requested: int | None = None  #: the signal of a stop request not yet acted on
_depth = 0  #: nesting of :func:`handled` (a sweep's runs inside the CLI's command)


def requested() -> int | None:
    """The signal number of the pending stop request, or None."""
    return _requested


def check() -> None:
    """Raise :class:`KeyboardInterrupt` when a stop was requested (even one whose
    exception was swallowed where the signal happened to land)."""
    if _requested is not None:
        raise KeyboardInterrupt


#: signals that came after the first while it was being acted on (see :func:`_note_and_raise`)
_again = 0


def _note_and_raise(signum: int, frame: Any) -> None:
    """The first request raises; a second one while it is acted on is only noted (the
    run is already stopping, or stopped and printing its summary, which a second
    Ctrl-C must not lose); a third raises again, for a user who wants out now."""
    global _requested, _again
    if _requested is not None and _again < 1:
        _again += 1
        return
    _requested = signum
    raise KeyboardInterrupt


@contextmanager
def handled(*signals: int) -> Iterator[None]:
    """While inside, the given signals (default SIGINT and SIGTERM) stop the process
    as Ctrl-C does and are remembered. SIGINT is only taken over from Python's own
    handler: a caller that ignores it (or handles it itself) keeps its choice. The
    outermost entry forgets an earlier request; nested entries keep it, so a
    Ctrl-C during one run of a sweep also stops the runs after it. Main thread
    only; elsewhere this does nothing."""
    global _requested, _depth, _again
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = signals or (signal.SIGINT, signal.SIGTERM)
    previous: dict[int, Any] = {}
    for signum in signals:
        current = signal.getsignal(signum)
        if signum == signal.SIGINT and current is not signal.default_int_handler:
            continue
        previous[signum] = signal.signal(signum, _note_and_raise)
    if _depth == 0:
        _requested, _again = None, 0
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _depth == 0:
            _requested, _again = None, 0
