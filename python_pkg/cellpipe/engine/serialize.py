"""A variable <-> a file, by type.

=====================  ============================================
value                  format
=====================  ============================================
pandas DataFrame       Parquet (pyarrow), when every column survives
                       the round trip; pickle otherwise
numpy ndarray          ``.npy`` (no pickle inside); pickle for object arrays
anything else          pickle, through cloudpickle so that functions and
                       classes defined in the notebook load in another kernel
=====================  ============================================

Files are written with :func:`cellpipe.engine.fileutil.atomic_write`: a reader
never sees half a file.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from cellpipe.core.digest import hasher
from cellpipe.engine.fileutil import atomic_write

FORMATS = ("parquet", "npy", "pickle")


class SerializationError(Exception):
    """A value could not be written; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _is_pandas(value: Any, cls: str) -> bool:
    t = type(value)
    return t.__module__.startswith("pandas") and t.__name__ == cls


def _is_ndarray(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def _parquet_safe(df: Any) -> bool:
    """True when Parquet gives this DataFrame back unchanged."""
    import pandas as pd
    from pandas.api.types import infer_dtype

    if isinstance(df.columns, pd.MultiIndex) or not df.columns.is_unique:
        return False
    if not all(isinstance(c, str) for c in df.columns):
        return False
    if df.attrs:
        return False
    for name in df.columns:
        dtype = df[name].dtype
        if str(dtype) == "object" and infer_dtype(df[name], skipna=True) not in ("string", "empty"):
            return False
    index = df.index
    if isinstance(index, pd.MultiIndex):
        return False
    if str(index.dtype) == "object" and infer_dtype(index, skipna=True) not in ("string", "empty"):
        return False
    return True


def _values_is_a_copy(df: Any) -> bool:
    """True when ``df.values`` is a new array (writable) although every column has
    the same type: the frame's columns are held apart (``sm.add_constant`` adds one).
    Parquet reads them back as one block, whose ``.values`` is a read-only view, so
    the loaded frame is made with its columns apart too: a notebook that writes into
    ``X.values`` works as in Run All. (Columns of different types: always a copy.)"""
    if df.shape[1] < 2 or df.dtypes.nunique() != 1:
        return False
    try:
        return bool(df.values.flags.writeable)
    except Exception:  # noqa: BLE001 - an extension type without a NumPy form: nothing to keep
        return False


def save_value(value: Any, folder: Path, name: str) -> dict[str, Any]:
    """Write ``value`` into ``folder`` as ``name.<ext>``; return its record."""
    folder.mkdir(parents=True, exist_ok=True)
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if _is_pandas(value, "DataFrame") and _parquet_safe(value):
        path = folder / f"{name}.parquet"
        try:
            atomic_write(path, lambda tmp: value.to_parquet(tmp, engine="pyarrow"))
            record = _record(path, "parquet", kind)
            if _values_is_a_copy(value):
                record["layout"] = "split"
            return record
        except Exception:  # noqa: BLE001 - fall back to pickle for anything Parquet refuses
            pass
    if _is_ndarray(value) and value.dtype != object:
        import numpy as np

        path = folder / f"{name}.npy"

        def write_npy(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, value, allow_pickle=False)

        atomic_write(path, write_npy)
        return _record(path, "npy", kind)

    path = folder / f"{name}.pkl"
    try:
        data = _dumps(value)
    except Exception as exc:  # noqa: BLE001 - every pickling failure gets the same explanation
        raise SerializationError(f"{type(exc).__name__}: {exc}") from exc

    def write_pickle(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_write(path, write_pickle)
    return _record(path, "pickle", kind)


def _dumps(value: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _record(path: Path, fmt: str, kind: str) -> dict[str, Any]:
    return {"file": path.name, "format": fmt, "type": kind, "bytes": path.stat().st_size}


def load_value(folder: Path, record: dict[str, Any]) -> Any:
    """Read a value written by :func:`save_value`."""
    path = folder / record["file"]
    fmt = record["format"]
    if fmt == "parquet":
        import pandas as pd

        if record.get("layout") == "split":  # one column each: `.values` is a new, writable array
            return pd.read_parquet(path, engine="pyarrow", to_pandas_kwargs={"split_blocks": True})
        return pd.read_parquet(path, engine="pyarrow")
    if fmt == "npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if fmt == "pickle":
        with open(path, "rb") as fh:
            return pickle.load(fh)
    raise ValueError(f"unknown artifact format {fmt!r} for {path}")


def _value_bytes(value: Any) -> bytes:
    """Pickle bytes that depend on values only: without the memo, two equal objects
    give the same bytes even when they share (or do not share) equal strings; and
    without lazily filled caches (private attributes named ``_cache`` or ``_…cache``,
    where statsmodels' results and pandas' indexes keep what they computed on first
    access), so that reading
    ``res.resid_pearson`` or printing ``res.summary()`` is not a change."""
    import io

    buf = io.BytesIO()
    pickler = _pickler_without_caches()(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    try:
        pickler.dump(value)
    except (ValueError, RecursionError):  # self-referencing objects need the memo
        buf = io.BytesIO()
        _pickler_without_caches()(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def _is_cache(attribute: Any) -> bool:
    """``_cache``, ``_summary_statistics_cache``: a private attribute filled on first access."""
    return isinstance(attribute, str) and attribute.startswith("_") and attribute.endswith("cache")


def _lazy_attributes(module: str) -> frozenset[str]:
    from cellpipe.core.rules import LAZY_ATTRIBUTES

    return frozenset().union(*(names for prefix, names in LAZY_ATTRIBUTES.items() if module.startswith(prefix)))


def _pickler_without_caches() -> type:
    import cloudpickle

    class _WithoutCaches(cloudpickle.CloudPickler):
        def reducer_override(self, obj: Any) -> Any:
            state = getattr(obj, "__dict__", None)
            if isinstance(state, dict) and not isinstance(obj, type):
                lazy = _lazy_attributes(type(obj).__module__)
                if any(_is_cache(k) or k in lazy for k in state):
                    return self._without(obj, lazy)
            return super().reducer_override(obj)

        def _without(self, obj: Any, lazy: frozenset[str]) -> Any:
            try:
                reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - let the pickler report it the usual way
                reduced = None
            if isinstance(reduced, tuple) and len(reduced) >= 3:
                def strip(state: Any) -> Any:
                    return {k: v for k, v in state.items() if not _is_cache(k) and k not in lazy}

                state = reduced[2]
                if isinstance(state, dict):
                    return (*reduced[:2], strip(state), *reduced[3:])
                if isinstance(state, tuple) and any(isinstance(part, dict) for part in state):
                    # (array state, attributes): pandas' arrays
                    parts = [strip(part) if isinstance(part, dict) else part for part in state]
                    stripped = tuple(part for part in parts if not (isinstance(part, dict) and not part))
                    return (*reduced[:2], stripped, *reduced[3:])
            return super().reducer_override(obj)

    return _WithoutCaches


def fingerprint(value: Any) -> str | None:
    """A cheap content fingerprint, to notice in-place changes; None if unknown."""
    h = hasher()
    try:
        if _is_ndarray(value) and value.dtype != object:
            import numpy as np

            h.update(repr((value.shape, str(value.dtype))).encode())
            h.update(np.ascontiguousarray(value).tobytes())
            return h.hexdigest()
        if _is_pandas(value, "DataFrame") or _is_pandas(value, "Series"):
            import pandas as pd

            if _is_pandas(value, "DataFrame"):
                labels, dtypes = list(map(str, value.columns)), [str(d) for d in value.dtypes]
            else:
                labels, dtypes = [str(value.name)], [str(value.dtype)]
            h.update(repr((value.shape, labels, dtypes)).encode())
            h.update(memoryview(pd.util.hash_pandas_object(value, index=True).to_numpy()).cast("B"))
            return h.hexdigest()
        if isinstance(value, (str, bytes, int, float, bool, complex, type(None))):
            h.update(repr(value).encode())
            return h.hexdigest()
        h.update(_value_bytes(value))
        return h.hexdigest()
    except Exception:  # noqa: BLE001 - a value we cannot fingerprint is simply not guarded
        return None
