"""A readers-writer guard that refuses rather than waits: many reads, or one write, at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_BUSY = "this Network is already running a pass in another thread"

#: For this long after a writer was refused because of reads, every read that ends yields the
#: GIL once (``time.sleep(0)``) while it holds nothing, so that the writer's retry can find the
#: network free (:meth:`Guard.yield_to_writer`).
PENDING_S = 0.01


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

    Fairness without waiting: the compiled passes release the GIL, so a thread that reads in a
    tight loop (each read a few µs of Python around a compiled call) would hand the GIL to a
    writer only while it is inside a read, and a writer that retries would never find the
    network free.  A writer refused because of reads therefore marks itself pending
    (:attr:`pending`, for :data:`PENDING_S`), and while it is pending every read that ends
    yields the GIL once while it holds nothing (:meth:`yield_to_writer`).  Nothing blocks;
    reads are never refused for it.
    """

    __slots__ = ("mutex", "pending", "readers", "writer")

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.readers: list[None] = []
        self.writer: str | None = None
        #: time.monotonic() until which a refused writer is pending, or 0.0.
        self.pending = 0.0

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
        if self.pending:
            self.yield_to_writer()

    def yield_to_writer(self) -> None:
        """After a read, with nothing held: yield the GIL once if a refused writer is pending
        (and forget a writer pending for longer than :data:`PENDING_S`)."""
        if time.monotonic() < self.pending:
            time.sleep(0)
        else:
            self.pending = 0.0

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
            self.pending = time.monotonic() + PENDING_S
        elif busy is None:
            self.pending = 0.0
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
            self.exit_read()

    def __repr__(self) -> str:
        return f"Guard(readers={len(self.readers)}, writer={self.writer!r})"
