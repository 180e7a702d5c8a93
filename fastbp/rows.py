"""Rows of data too large to copy: validated once, read and converted chunk by chunk.

:func:`fastbp.validate.as_features` and :func:`~fastbp.validate.as_targets` hand kernels a
C-contiguous, writeable array of the network's dtype.  For an array that already is one, that is
the array itself.  For one that would need a copy (a read-only memory map from
``np.load(path, mmap_mode="r")``, another dtype, a strided or broadcast view) larger than
:data:`COPY_LIMIT_BYTES`, they return a :class:`LazyRows` instead: the data has been checked
chunk by chunk (finite, in range), and each slice or gather of rows comes back converted, as a
small kernel-ready array.  The network's chunked passes (``forward``, ``loss``, ``score`` ...)
slice it as they would an array; ``fit`` gathers each chunk of its shuffled order into one reused
buffer (:meth:`LazyRows.take`).  Memory stays bounded by the chunk size, not the data size.

Pages of a read-only memory map that have been read are released after each block
(``madvise(MADV_DONTNEED)``), so the resident size of the process does not grow with the file
either; the operating system's page cache still keeps them for the next epoch.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable

import numpy as np

#: Arrays that need a copy or conversion and are larger than this are not copied whole.
COPY_LIMIT_BYTES = 64 * 2**20

#: Rows are read in blocks of about this many bytes (validation, gathers).
BLOCK_BYTES = 4 * 2**20


def block_rows(row_bytes: int, budget: int = BLOCK_BYTES) -> int:
    """How many rows of ``row_bytes`` bytes fit in ``budget`` bytes (at least 1)."""
    return max(1, budget // max(1, row_bytes))


def row_blocks(n: int, rows: int):
    """``slice`` objects covering 0..n in steps of ``rows``."""
    for lo in range(0, n, rows):
        yield slice(lo, min(n, lo + rows))


def distinct_view(arr: np.ndarray) -> np.ndarray:
    """``arr`` with every stride-0 axis cut to length 1: the same set of values, each once.

    ``np.broadcast_to(x, (10**12, 4))`` holds only the values of x; checking this view checks
    them all without touching 10**12 rows.
    """
    index = tuple(
        slice(0, 1) if stride == 0 and size > 1 else slice(None)
        for stride, size in zip(arr.strides, arr.shape, strict=True)
    )
    return arr[index]


def _release_pages(arr: np.ndarray) -> Callable[[], None]:
    """A function that drops the resident pages of ``arr``'s read-only memory map (or nothing).

    Only maps opened read-only or read-write (``mode`` "r"/"r+") qualify: their pages are the
    file's, so dropping them loses nothing.  A copy-on-write map ("c") is left alone.
    """
    while arr is not None and not isinstance(arr, np.memmap):
        arr = getattr(arr, "base", None)
        if not isinstance(arr, np.ndarray):
            return lambda: None
    if arr is None or getattr(arr, "mode", None) not in ("r", "r+"):
        return lambda: None
    mm = getattr(arr, "_mmap", None)
    if not isinstance(mm, mmap.mmap) or not hasattr(mm, "madvise"):
        return lambda: None
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is None:
        return lambda: None

    def release() -> None:
        try:
            mm.madvise(advice)
        except (OSError, ValueError):  # closed map, or not supported here: only a missed saving
            pass

    return release


class LazyRows:
    """Validated rows of a large array, converted to a kernel-ready block on each access.

    Parameters
    ----------
    source : numpy.ndarray
        The user's array (a memory map, a strided or broadcast view, another dtype), never
        copied whole.  1-D integer labels when ``n_classes`` is given, else 2-D.
    dtype : numpy.dtype
        The network's dtype: every block comes back C-contiguous and writeable in it.
    n_cols : int
        Columns of a converted block.
    index : numpy.ndarray of int64, optional
        Rows of ``source`` this object stands for, in order (a subset); all rows if None.
    n_classes : int, optional
        Turn integer labels into one-hot rows of this width.
    shift, scale : numpy.ndarray, optional
        Each block is returned as ``(block - shift) / scale`` (a standardiser applied on the fly,
        computed in float64).
    """

    ndim = 2

    def __init__(
        self,
        source: np.ndarray,
        dtype: np.dtype,
        n_cols: int,
        index: np.ndarray | None = None,
        n_classes: int | None = None,
        shift: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> None:
        self.source = source
        self.dtype = np.dtype(dtype)
        self.n_cols = int(n_cols)
        self.index = index
        self.n_classes = n_classes
        self.shift = shift
        self.scale = scale
        self._release = _release_pages(source)

    # ----------------------------------------------------------------- array-like surface
    @property
    def shape(self) -> tuple[int, int]:
        n = self.source.shape[0] if self.index is None else self.index.shape[0]
        return (int(n), self.n_cols)

    @property
    def nbytes(self) -> int:
        """Bytes the rows would take converted (what was *not* allocated)."""
        return self.shape[0] * self.n_cols * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"LazyRows(shape={self.shape}, dtype={self.dtype}, source={type(self.source).__name__}"
            f"{self.source.shape}:{self.source.dtype})"
        )

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        """Rows ``key`` (a step-1 slice or an integer index array) as a converted array."""
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.shape[0])
            if step != 1:
                raise ValueError("LazyRows supports step-1 slices only")
            if self.index is None:
                block = self._convert(self.source[lo:hi])
                self._release()
                return block
            key = self.index[lo:hi]
            return self.take_source(key)
        idx = np.asarray(key, dtype=np.int64)
        if self.index is not None:
            idx = self.index[idx]
        return self.take_source(idx)

    def subset(self, idx: np.ndarray) -> LazyRows:
        """The rows ``idx`` (positions in this object) as another LazyRows, nothing read."""
        idx = np.asarray(idx, dtype=np.int64)
        index = idx if self.index is None else self.index[idx]
        return LazyRows(
            self.source, self.dtype, self.n_cols, index, self.n_classes, self.shift, self.scale
        )

    def to_array(self) -> np.ndarray:
        """All rows, converted (allocates the whole result: for data known to fit in memory)."""
        return self[0 : self.shape[0]]

    # ----------------------------------------------------------------- reading
    def take(self, positions: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write rows ``positions`` (of this object), converted, into ``out[:len(positions)]``.

        Returns that part of ``out``.  See :meth:`take_source` for the order of reading.
        """
        src = positions if self.index is None else self.index[positions]
        for pos, block in self._read(src):
            out[pos] = block
        return out[: src.shape[0]]

    def take_source(self, src: np.ndarray) -> np.ndarray:
        """Rows ``src`` of the source array, converted (a new array of len(src) rows).

        Source rows are read in ascending order, in groups that each lie within one
        :data:`BLOCK_BYTES` stretch of the source, and a memory map's pages are released after
        every group: however scattered the rows, the pages mapped at once stay few.
        """
        out = np.empty((src.shape[0], self.n_cols), dtype=self.dtype)
        for pos, block in self._read(src):
            out[pos] = block
        return out

    def _read(self, src: np.ndarray):
        order = np.argsort(src, kind="stable")
        srt = src[order]
        row_bytes = max(1, self.source[:1].nbytes)
        span = block_rows(row_bytes)
        # Group boundaries: where the sorted rows enter a new stretch of `span` rows, and at
        # least every `span` rows (repeated indices).
        stretch = srt // span
        cuts = np.flatnonzero(np.diff(stretch)) + 1
        cuts = np.union1d(cuts, np.arange(span, srt.shape[0], span))
        lo = 0
        for hi in [*cuts.tolist(), srt.shape[0]]:
            if hi > lo:
                yield order[lo:hi], self._convert(self.source[srt[lo:hi]])
                self._release()
            lo = hi

    def _convert(self, block: np.ndarray) -> np.ndarray:
        if self.n_classes is not None:
            out = np.zeros((block.shape[0], self.n_classes), dtype=self.dtype)
            out[np.arange(block.shape[0]), block.astype(np.int64)] = 1
            return out
        if self.shift is not None:
            block = (np.asarray(block, dtype=np.float64) - self.shift) / self.scale
        with np.errstate(over="ignore"):  # range checked when the rows were validated
            return np.array(block, dtype=self.dtype, order="C", copy=True)
