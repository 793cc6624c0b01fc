"""Reading IDX files (the format of the MNIST distribution), with errors that say what is wrong.

Format (LeCun et al., MNIST page): a 4-byte magic number ``0x00 0x00 <type> <ndim>``,
``ndim`` big-endian uint32 dimension sizes, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from bioplaus.errors import BioplausError

_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (optionally gzip-compressed, by a ``.gz`` suffix)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as e:
        raise BioplausError(f"{path}: cannot read IDX file ({e}).") from e
    if len(raw) < 4:
        raise BioplausError(f"{path}: truncated IDX file: {len(raw)} bytes, fewer than the 4-byte magic number.")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES or raw[3] == 0:
        raise BioplausError(
            f"{path}: not an IDX file: magic number {raw[:4].hex()} should be 0000TTNN with type TT one of "
            f"{', '.join(f'{t:02x}' for t in _TYPES)} and NN >= 1 dimensions (MNIST images: 00000803, labels: 00000801)."
        )
    dtype, ndim = _TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise BioplausError(f"{path}: truncated IDX file: header needs {header} bytes, file has {len(raw)}.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise BioplausError(
            f"{path}: IDX file {what}: shape {shape} of {dtype.name} needs {expected} bytes, file has {len(raw)}."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (uint8, int8, int16, int32, float32 or float64)."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}
    dt = array.dtype.newbyteorder("=")
    if dt not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, codes[dt], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    Path(path).write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())
