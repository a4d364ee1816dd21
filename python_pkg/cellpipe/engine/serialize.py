"""A variable <-> a file, by type.

=====================  ============================================
value                  format
=====================  ============================================
pandas DataFrame       Arrow IPC file (uncompressed), when every column
                       survives the round trip; pickle otherwise
numpy ndarray          ``.npy`` (no pickle inside); pickle for object arrays
anything else          pickle, through cloudpickle so that functions and
                       classes defined in the notebook load in another kernel
=====================  ============================================

Stores written before the Arrow format hold DataFrames as Parquet: those still
load (``format: parquet``). A DataFrame is turned into Arrow and back by the same
pandas conversion as Parquet used (the pandas metadata of the schema), without
Parquet's encoding and compression: writing and reading cost about a copy.

Files are written with :func:`cellpipe.engine.fileutil.atomic_write`: a reader
never sees half a file. A step's read-only array input can be memory-mapped
copy-on-write (``mmap``): the kernel does not hold a second copy of what it only
reads, and a write changes the kernel's pages, never the stored file.

The in-place-change guard's :func:`fingerprint` hashes the buffers of arrays and
frames directly with a fast non-cryptographic hash (xxHash's XXH3), never by
pickling them.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from cellpipe.core.digest import hasher
from cellpipe.engine.fileutil import atomic_write

FORMATS = ("arrow", "parquet", "npy", "pickle")
#: arrays smaller than this are read into memory even when they could be mapped
MMAP_MIN_BYTES = 1 << 20


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


def _pandas_arrow_types() -> bool:
    """Register pandas' Arrow extension types (period and interval data), as pandas'
    own Parquet and Feather readers do before they read: without them a process that
    has not written such data itself reads a period index back as integers. False
    when this pandas keeps them elsewhere (such frames are then pickled)."""
    try:
        import pandas.core.arrays.arrow.extension_types  # noqa: F401
    except ImportError:
        return False
    return True


def _extension_typed(index_or_dtype: Any) -> bool:
    import pandas as pd

    dtype = getattr(index_or_dtype, "dtype", index_or_dtype)
    return isinstance(dtype, (pd.PeriodDtype, pd.IntervalDtype))


def _index_freq(index: Any) -> str | None:
    """The frequency of a date or time-delta index (``freq``): Arrow keeps the
    values, not the frequency, which the loaded frame gets back from the record."""
    freq = getattr(index, "freq", None)
    return None if freq is None or _extension_typed(index) else str(freq.freqstr)


def _arrow_safe(df: Any) -> bool:
    """True when Arrow (and Parquet) give this DataFrame back unchanged."""
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
    if (_extension_typed(index) or any(_extension_typed(d) for d in df.dtypes)) and not _pandas_arrow_types():
        return False
    return True


def _values_is_a_copy(df: Any) -> bool:
    """True when ``df.values`` is a new array (writable) although every column has
    the same type: the frame's columns are held apart (``sm.add_constant`` adds one).
    Arrow reads them back as one block, whose ``.values`` is a read-only view, so
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
    if _is_pandas(value, "DataFrame") and _arrow_safe(value):
        path = folder / f"{name}.arrow"
        try:
            atomic_write(path, lambda tmp: _write_arrow(value, tmp))
            record = _record(path, "arrow", kind)
            if _values_is_a_copy(value):
                record["layout"] = "split"
            freq = _index_freq(value.index)
            if freq is not None:
                record["index_freq"] = freq
            return record
        except Exception:  # noqa: BLE001 - fall back to pickle for anything Arrow refuses
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


def _write_arrow(df: Any, tmp: Path) -> None:
    """``df`` as one uncompressed Arrow IPC file (index and dtypes in the pandas
    metadata, as ``DataFrame.to_parquet`` writes them)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(df, preserve_index=None)
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _arrow_to_pandas(table: Any, split: bool) -> Any:
    """The DataFrame of an Arrow table, converted exactly as ``pandas.read_parquet``
    converts the table it read (the string dtype, time zones), so that a frame
    loads the same from either format."""
    kwargs = {"split_blocks": True} if split else {}
    import inspect

    try:
        from pandas.io._util import arrow_table_to_pandas  # read_parquet's and read_feather's conversion
    except ImportError:  # older pandas: read_parquet called to_pandas itself
        return table.to_pandas(**kwargs)
    if "to_pandas_kwargs" not in inspect.signature(arrow_table_to_pandas).parameters:
        return arrow_table_to_pandas(table) if not kwargs else table.to_pandas(**kwargs)
    return arrow_table_to_pandas(table, to_pandas_kwargs=kwargs)


def _with_index_freq(frame: Any, freq: str | None) -> Any:
    """``frame`` with the frequency its index had when saved (checked against the values)."""
    if freq is None:
        return frame
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.DatetimeIndex):
        frame.index = pd.DatetimeIndex(index, freq=freq)
    elif isinstance(index, pd.TimedeltaIndex):
        frame.index = pd.TimedeltaIndex(index, freq=freq)
    return frame


def _dumps(value: Any) -> bytes:
    import cloudpickle

    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _record(path: Path, fmt: str, kind: str) -> dict[str, Any]:
    return {"file": path.name, "format": fmt, "type": kind, "bytes": path.stat().st_size}


def load_value(folder: Path, record: dict[str, Any], mmap: bool = False) -> Any:
    """Read a value written by :func:`save_value`.

    ``mmap``: the caller only reads the value (as far as the analysis can tell): an
    array is mapped copy-on-write instead of read, so the file's pages are shared
    with the page cache and a write (the analysis was wrong) stays in this process.
    """
    path = folder / record["file"]
    fmt = record["format"]
    split = record.get("layout") == "split"  # one column each: `.values` is a new, writable array
    if fmt == "arrow":
        import pyarrow as pa

        _pandas_arrow_types()
        # mapped: the Arrow buffers are the file's pages, and pandas' copy is the only one
        frame = _arrow_to_pandas(pa.ipc.open_file(pa.memory_map(str(path))).read_all(), split)
        return _with_index_freq(frame, record.get("index_freq"))
    if fmt == "parquet":  # stores written before the Arrow format
        import pandas as pd

        if split:
            return pd.read_parquet(path, engine="pyarrow", to_pandas_kwargs={"split_blocks": True})
        return pd.read_parquet(path, engine="pyarrow")
    if fmt == "npy":
        import numpy as np

        if mmap and record.get("bytes", 0) >= MMAP_MIN_BYTES:
            mapped = np.load(path, mmap_mode="c", allow_pickle=False)
            # a plain ndarray over the mapping (np.memmap's type would show), writable copy-on-write
            return mapped.view(np.ndarray)
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


def _fast_hasher() -> Any:
    """XXH3-128 when xxhash is installed (memory bandwidth), else BLAKE2b."""
    try:
        import xxhash
    except ImportError:
        return hasher()
    return xxhash.xxh3_128()


def _hash_array(h: Any, array: Any) -> None:
    """Feed an array's shape, dtype and bytes (its own buffer: no copy when contiguous)."""
    import numpy as np

    h.update(repr((array.shape, array.dtype.str)).encode())
    flat = np.ascontiguousarray(array).reshape(-1)
    h.update(flat.view(np.uint8).data)


def _hash_column(h: Any, column: Any) -> None:
    """Feed one Series' values: NumPy-backed and categorical columns by their
    buffers; other extension and object columns by pandas' row hashes."""
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind != "O":
        _hash_array(h, column.to_numpy(copy=False))
    elif isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy(copy=False)
        _hash_array(h, codes)
        h.update(repr(bool(dtype.ordered)).encode())
        h.update(memoryview(pd.util.hash_pandas_object(dtype.categories, index=False).to_numpy()).cast("B"))
    else:
        h.update(memoryview(pd.util.hash_pandas_object(column, index=False).to_numpy()).cast("B"))


def _hash_index(h: Any, index: Any) -> None:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        h.update(repr(("range", index.start, index.stop, index.step, index.name)).encode())
    else:
        h.update(repr((type(index).__name__, str(index.dtype), list(map(str, index.names)))).encode())
        h.update(memoryview(pd.util.hash_pandas_object(index, index=False).to_numpy()).cast("B"))


def fingerprint(value: Any) -> str | None:
    """A cheap content fingerprint, to notice in-place changes; None if unknown.

    Arrays and frames are hashed from their buffers (the guard costs about a
    read of the memory); other values by their pickled bytes.
    """
    h = _fast_hasher()
    try:
        if _is_ndarray(value) and value.dtype != object:
            _hash_array(h, value)
            return h.hexdigest()
        if _is_pandas(value, "DataFrame") or _is_pandas(value, "Series"):
            if _is_pandas(value, "DataFrame"):
                labels, dtypes = list(map(str, value.columns)), [str(d) for d in value.dtypes]
                columns = [value.iloc[:, i] for i in range(value.shape[1])]
            else:
                labels, dtypes = [str(value.name)], [str(value.dtype)]
                columns = [value]
            h.update(repr((value.shape, labels, dtypes)).encode())
            _hash_index(h, value.index)
            for column in columns:
                _hash_column(h, column)
            return h.hexdigest()
        if isinstance(value, (str, bytes, int, float, bool, complex, type(None))):
            h.update(repr(value).encode())
            return h.hexdigest()
        h.update(_value_bytes(value))
        return h.hexdigest()
    except Exception:  # noqa: BLE001 - a value we cannot fingerprint is simply not guarded
        return None
