"""Ctrl-C during training: deferred to the next point where the state is consistent."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_deferred() -> Iterator[threading.Event]:
    """While training, Ctrl-C (SIGINT) only sets the yielded event.

    The epoch loop checks it after every compiled call and turns it into a KeyboardInterrupt
    there, so that it can never land in the middle of the bookkeeping that snapshots a finished
    epoch (parameters, optimizer state and history must agree) or of the restore itself.  Only
    Python's default handler is replaced, and only in the main thread (signal handlers cannot be
    set elsewhere, and Ctrl-C is delivered to the main thread anyway).

    Yields
    ------
    threading.Event
        Set when Ctrl-C was pressed.
    """
    event = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
        except (ValueError, OSError):  # e.g. an embedded interpreter without signal support
            previous = None
    try:
        yield event
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
