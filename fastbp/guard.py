"""A readers-writer guard that refuses rather than waits: many reads, or one write, at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_BUSY = "this Network is already running a pass in another thread"


class Guard:
    """A readers-writer guard that never waits: a conflicting call is refused at once.

    Any number of reads (forward, predict, predict_proba, loss, score, loss_and_gradient, copy,
    save) may run at the same time, each on its own thread's workspaces.  A call that changes the
    parameters or uses the shared workspaces (fit, partial_fit, params assignment, trace, hvp)
    runs alone: it is refused while anything else runs, and reads are refused while it runs.
    Refusals raise RuntimeError before anything is touched, so a read never sees half-updated
    parameters.

    A read costs two list operations, not a lock: it first registers itself (``readers.append``)
    and then looks for a writer; a writer first registers itself (``writer = what``, writers
    among themselves under ``mutex``) and then looks for readers.  Each of these steps is atomic,
    so whichever of two overlapping calls looks second sees the other and backs out (if both look
    at the same moment, both back out: a refusal, never a torn read).  ``mutex`` is never held
    during a pass.
    """

    __slots__ = ("mutex", "readers", "writer")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.readers: list[None] = []
        self.writer: str | None = None

    def enter_read(self) -> None:
        """Register a read, or raise RuntimeError if a writer holds the network.

        The caller must ``readers.pop()`` when the read ends (:meth:`exit_read`).
        """
        readers = self.readers
        readers.append(None)
        writer = self.writer
        if writer is not None:
            readers.pop()
            raise RuntimeError(
                f"{_BUSY} ({writer}), which needs the network to itself; reads "
                f"(forward, predict, loss, score) can run from many threads at once, but not "
                f"during fit, partial_fit, trace, hvp or a params assignment: wait for it to "
                f"finish, or use one net.copy() per thread"
            )

    def exit_read(self) -> None:
        """End a read registered by :meth:`enter_read`."""
        self.readers.pop()

    def enter_write(self, what: str) -> None:
        """Register a writer ``what`` (e.g. ``"fit"``), or raise RuntimeError if anything runs."""
        with self.mutex:
            busy = self.writer
            if busy is None:
                self.writer = what
        if busy is None and self.readers:
            busy = f"{len(self.readers)} read(s)"
            with self.mutex:
                self.writer = None
        if busy is not None:
            raise RuntimeError(
                f"{_BUSY} ({busy}); {what} needs the network to itself: serialise the calls, "
                f"or use one Network per thread (net.copy())"
            )

    def exit_write(self) -> None:
        """End the write registered by :meth:`enter_write`."""
        self.writer = None

    @contextmanager
    def write(self, what: str) -> Iterator[None]:
        """Hold the guard alone while the block runs (see :meth:`enter_write`)."""
        self.enter_write(what)
        try:
            yield
        finally:
            self.exit_write()

    @contextmanager
    def read(self) -> Iterator[None]:
        """Hold the guard for a read while the block runs (see :meth:`enter_read`)."""
        self.enter_read()
        try:
            yield
        finally:
            self.readers.pop()

    def __repr__(self) -> str:
        return f"Guard(readers={len(self.readers)}, writer={self.writer!r})"
