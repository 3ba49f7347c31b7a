"""A matrix stored in a ``.npy`` file, read row by row on demand (never memory-mapped).

The vector matrix of a workspace's index (422 MB at 1.1 million int8 rows) is only ever read:
a search reads the rows of the IVF partitions it probes (contiguous ranges) and the rows of
its shortlisted helpers (scattered). Memory-mapped, every page a read touches stays in the
process's resident set, and on kernels that keep files in the page cache as large folios
(256 KB to 2 MB) one scattered read maps its whole folio: the ~2,800 scattered rows of the
first ask at 100,000 helpers mapped 394 MB of the 403 MB matrix. :class:`FileRows` reads the
rows with ``preadv`` into arrays of their own instead, freed when the caller drops them: the
operating system's page cache holds the file (shared by every worker on the host, reclaimed
under pressure), the worker holds only what a search is using.

It stands in for the ``numpy`` array :class:`~peerbot.matching.index.HelperIndex` keeps as its
base matrix (``shape``, ``dtype``, ``nbytes``, ``len`` and indexing by an integer, a slice or an
array of row numbers, each answered with a new array). Positional reads: safe from several
threads at once. The file stays readable while the object lives, also once it is removed.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: Scattered rows closer than this (in rows) are read in one piece with those between them.
GAP_ROWS = 32
#: Rows read in one piece at most (a read of many rows goes a piece at a time).
PIECE_BYTES = 4 << 20


class FileRows:
    """The rows of a 2-d C-ordered ``.npy`` file, read on demand (see the module)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        f = open(self.path, "rb")  # noqa: SIM115 - held for the object's life
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            if fortran or len(shape) != 2 or dtype.hasobject:
                raise ValueError(f"{self.path.name}: not a 2-d C-ordered numeric array")
            self._offset = f.tell()
            size = os.fstat(f.fileno()).st_size
            if size != self._offset + int(np.prod(shape)) * dtype.itemsize:
                raise ValueError(f"{self.path.name}: {size} bytes do not hold shape {shape}")
        except BaseException:
            f.close()
            raise
        self._file = f
        self._fd = f.fileno()
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._piece_rows = max(1, PIECE_BYTES // max(1, self._row_bytes))

    # --- the array protocol the index uses --------------------------------------------------
    @property
    def ndim(self) -> int:
        """Always 2."""
        return 2

    @property
    def nbytes(self) -> int:
        """Bytes of the rows in the file (none of them held here)."""
        return self.shape[0] * self._row_bytes

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> npt.NDArray[Any]:
        """Rows as a new array: ``m[i]`` (one row, 1-d), ``m[a:b]`` (a range, step 1) or
        ``m[rows]`` (an integer array: the rows in that order, repeats allowed)."""
        n = self.shape[0]
        if isinstance(key, slice):
            lo, hi, step = key.indices(n)
            if step != 1:
                return self.take(np.arange(lo, hi, step))
            return self.read(lo, max(lo, hi))
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if int(key) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {int(key)} out of range for {n} rows")
            return self.read(i, i + 1)[0]
        return self.take(np.asarray(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        """Every row (reads the whole file: for small matrices and tests)."""
        out = self.read(0, self.shape[0])
        return out if dtype is None else out.astype(dtype, copy=False)

    # --- reading ----------------------------------------------------------------------------
    def read(self, lo: int, hi: int) -> npt.NDArray[Any]:
        """Rows ``lo:hi`` (``0 <= lo <= hi <= len``) as a new array."""
        if not 0 <= lo <= hi <= self.shape[0]:
            raise IndexError(f"rows {lo}:{hi} out of range for {self.shape[0]} rows")
        out = np.empty((hi - lo, self.shape[1]), dtype=self.dtype)
        self._into(out, lo)
        return out

    def _into(self, out: npt.NDArray[Any], lo: int) -> None:
        """Fill ``out`` (C-contiguous, whole rows) with the rows from ``lo`` on."""
        if not out.flags.c_contiguous:
            raise ValueError("rows are read into C-contiguous arrays only")
        view = memoryview(out.reshape(-1).view(np.uint8).data)
        at = self._offset + lo * self._row_bytes
        done = 0
        while done < len(view):
            got = os.preadv(self._fd, [view[done:]], at + done)
            if got <= 0:
                raise OSError(f"{self.path.name}: short read at byte {at + done}")
            done += got

    def take(self, rows: npt.ArrayLike) -> npt.NDArray[Any]:
        """The rows numbered ``rows`` (any order, repeats allowed) as a new array: each row
        read once, neighbours closer than :data:`GAP_ROWS` in one read, the reads of up to
        :data:`PIECE_BYTES` gathered at a time (one ``pread`` each, no Python work per row)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.intp, copy=False).reshape(-1)
        n, d = self.shape
        if not rows.size:
            return np.empty((0, d), dtype=self.dtype)
        rows = np.where(rows < 0, rows + n, rows)
        if int(rows.min()) < 0 or int(rows.max()) >= n:
            raise IndexError(f"row numbers out of range for {n} rows")
        ordered = bool(np.all(rows[1:] > rows[:-1]))
        uniq, inverse = (rows, None) if ordered else np.unique(rows, return_inverse=True)
        # Runs of rows read whole: neighbours closer than GAP_ROWS, at most a piece each.
        starts = np.flatnonzero(np.diff(uniq) > GAP_ROWS) + 1
        run_lo = uniq[np.concatenate([[0], starts])]
        run_hi = uniq[np.concatenate([starts - 1, [uniq.size - 1]])] + 1
        piece = self._piece_rows
        if int((run_hi - run_lo).max()) > piece:
            cut_lo: list[int] = []
            for lo, hi in zip(run_lo.tolist(), run_hi.tolist(), strict=True):
                cut_lo.extend(range(lo, hi, piece))
            run_lo = np.asarray(cut_lo, dtype=np.intp)
            run_hi = np.minimum(np.append(run_lo[1:], n), run_lo + piece)
            # A cut run's pieces end where the next starts, or a piece later: trim to the
            # last row wanted in each.
            last = np.searchsorted(uniq, run_hi, side="left") - 1
            run_hi = uniq[last] + 1
        cum = np.concatenate([[0], np.cumsum(run_hi - run_lo)])
        run_of = np.searchsorted(run_lo, uniq, side="right") - 1
        at = cum[run_of] + (uniq - run_lo[run_of])  # each row's place in the runs read
        batch = (cum[:-1] * self._row_bytes) // PIECE_BYTES
        edges = [0, *(np.flatnonzero(np.diff(batch)) + 1).tolist(), run_lo.size]
        out = np.empty((uniq.size, d), dtype=self.dtype)
        pread, fd, rb, base = os.pread, self._fd, self._row_bytes, self._offset
        for a, b in itertools.pairwise(edges):
            data = b"".join(
                [
                    pread(fd, (hi - lo) * rb, base + lo * rb)
                    for lo, hi in zip(run_lo[a:b].tolist(), run_hi[a:b].tolist(), strict=True)
                ]
            )
            if len(data) != int(cum[b] - cum[a]) * rb:
                raise OSError(f"{self.path.name}: short read")
            buf = np.frombuffer(data, dtype=self.dtype).reshape(-1, d)
            i, j = np.searchsorted(run_of, [a, b])
            out[i:j] = buf[at[i:j] - cum[a]]
            del buf, data
        return out if inverse is None else out[inverse.reshape(-1)]

    def close(self) -> None:
        """Close the file (further reads fail)."""
        self._file.close()

    def __repr__(self) -> str:
        return f"FileRows({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"
