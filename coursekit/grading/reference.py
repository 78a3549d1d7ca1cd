"""Trusted grading code that both sides of the runner boundary share: the raw array files the
judge and the runner exchange, and the digest by which the runner reports an array the judge
only compares.

``runner.py`` loads this file by path (it starts with ``python -I`` and, confined, sees this
file only through a read-only bind) and hands it to each task's ``calls.py`` as
``student.reference``. So this module imports nothing but numpy and the standard library:
never ``source_pkg``, never ``coursekit``.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import numpy as np


def array_digest(array: np.ndarray) -> str:
    """Dtype, shape and SHA-256 of an array's values: how the runner reports an array the judge
    only compares with one of its own (the input after a call), instead of writing it all back."""
    array = np.asarray(array)
    return f"{array.dtype.str}{array.shape}:{hashlib.sha256(np.ascontiguousarray(array)).hexdigest()}"


# The arrays the judge and the runner pass each other: the raw values in C order in a file of
# their own, their dtype and shape in the JSON that names the file. There is no header to parse,
# and the reader compares the file's size with the description before it allocates anything.
NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex numbers
OTHER_KINDS = {"O": "Python objects", "U": "strings", "S": "bytes", "V": "records", "M": "dates", "m": "time spans"}


def write_array(path: str | os.PathLike, array: np.ndarray) -> dict[str, Any]:
    """Write ``array``'s values to ``path``; returns its description (dtype, shape). An array
    that is not numeric (objects, strings) is described but not written: the reader refuses it."""
    array = np.asarray(array)
    description = {"dtype": array.dtype.str, "shape": list(array.shape)}
    if array.dtype.kind in NUMERIC_KINDS:
        array.tofile(path)  # always C order, whatever the array's own layout
    return description


def read_array(path: str | os.PathLike, description: Any) -> np.ndarray:
    """The numeric array ``write_array`` wrote to ``path`` as ``description``; raises ValueError
    naming what is wrong with the description or the file."""
    if not isinstance(description, dict):
        raise ValueError(f"no description of the array in {os.path.basename(path)}")
    try:
        dtype = np.dtype(description.get("dtype"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"dtype {description.get('dtype')!r} is not a dtype") from exc
    if dtype.kind not in NUMERIC_KINDS:
        words = OTHER_KINDS.get(dtype.kind)
        raise ValueError(f"its values are {words}, not numbers" if words else f"its dtype {dtype} is not numeric")
    shape = description.get("shape")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"shape {shape!r} is not a list of sizes")
    expected = math.prod(shape) * dtype.itemsize
    size = os.path.getsize(path)
    if size != expected:
        raise ValueError(f"{os.path.basename(path)} holds {size} bytes, not the {expected} of a {dtype} array "
                         f"of shape {tuple(shape)}")
    return np.fromfile(path, dtype=dtype).reshape(shape)
