"""pandas frames made from column arrays, without the public constructor's per-frame cost (the scrubber's rules
and the release-table changes build thousands of small frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd

try:  # pandas' own constructor of a frame from its column arrays, without the checks of the public one
    from pandas.core.internals.construction import arrays_to_mgr as _arrays_to_mgr

    _from_mgr = pd.DataFrame._from_mgr
except (ImportError, AttributeError):  # pragma: no cover - another pandas: the public constructor only
    _arrays_to_mgr = None

# the dtypes the direct path takes as they are (pandas' own checks would keep each of them unchanged)
_DIRECT_DTYPES = frozenset(np.dtype(t) for t in (
    "bool", "object", "float32", "float64", "datetime64[ns]", "timedelta64[ns]",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"))


def object_frame(columns: dict) -> pd.DataFrame:
    """A DataFrame whose object arrays stay object dtype (pandas 3 would re-infer them as its str dtype), on the
    arrays given, not copies (pandas 3's Series copies an array unless told not to: a copy of every column of
    every frame was a tenth of the scrub); the caller hands the arrays over and does not write to them after.

    The rules build thousands of small frames a scrub: pandas' DataFrame(dict) spent about 0.6 ms on each
    (an Index inferred for the keys, each Series aligned to the others' index), 0.1 ms through pandas' own
    arrays_to_mgr. That path takes only 1-D NumPy arrays of one length and of dtypes pandas keeps as they are;
    anything else (a Series, a list, datetime64[D]) goes through the public constructor."""
    names = pd.Index(list(columns), dtype=object)  # an object Index: pandas 3 would make the labels Arrow text
    arrays = list(columns.values())
    if _arrays_to_mgr is not None and arrays and all(
            type(a) is np.ndarray and a.ndim == 1 and a.dtype in _DIRECT_DTYPES
            for a in arrays) and len({len(a) for a in arrays}) == 1:
        mgr = _arrays_to_mgr(arrays, names, pd.RangeIndex(len(arrays[0])), consolidate=False,
                             verify_integrity=False)
        return _from_mgr(mgr, axes=mgr.axes)
    return pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if isinstance(v, np.ndarray) and
                         v.dtype == object else v for k, v in columns.items()}, columns=names, copy=False)
