"""The rules the analysis applies, as data: which method calls leave their object
unchanged, which functions change an argument, which magics run code, which
names a kernel provides. Documented here so users can see why a step became
a variable's producer (see README, "How data moves between steps")."""

from __future__ import annotations

import builtins

#: Methods known to leave the object they are called on unchanged. A method
#: call on a name that is *not* listed here (``lst.append``, ``model.fit``,
#: ``df.update``) is taken to change the object in place; any call that passes
#: ``inplace=True`` does, whatever the method.
READ_ONLY_METHODS: frozenset[str] = frozenset(
    """
    head tail describe info copy deepcopy sample nlargest nsmallest
    predict predict_proba predict_log_proba decision_function score transform
    inverse_transform staged_predict staged_predict_proba get_params
    get_feature_names_out
    plot hist boxplot bar barh scatter pie kde area line savefig show
    corr cov corrwith mean median sum min max std var sem skew kurt kurtosis
    count nunique unique value_counts isna isnull notna notnull any all
    quantile mode rank prod cumsum cumprod cummax cummin diff pct_change shift
    round abs clip idxmax idxmin argmax argmin argsort argpartition searchsorted
    groupby agg aggregate apply applymap map filter query transform pipe
    rolling expanding ewm resample
    sort_values sort_index drop dropna fillna ffill bfill interpolate rename
    rename_axis replace reset_index set_index reindex astype convert_dtypes
    infer_objects merge join combine_first align pivot pivot_table melt stack
    unstack explode transpose swapaxes reshape ravel flatten squeeze take item
    items iteritems iterrows itertuples keys values get assign equals isin
    between where mask eq ne lt gt le ge add sub mul div truediv floordiv mod
    pow radd rsub rmul rdiv rtruediv dot matmul select_dtypes memory_usage
    duplicated drop_duplicates nonzero view conj tolist to_list to_numpy
    to_frame to_string to_markdown to_dict to_records to_csv to_parquet
    to_json to_excel to_pickle to_sql to_latex to_html to_period
    to_timestamp tobytes tofile dump dumps
    first last first_valid_index last_valid_index
    str dt cat
    lower upper strip lstrip rstrip split rsplit splitlines startswith
    endswith contains find rfind index rindex format format_map encode decode
    zfill center ljust rjust partition rpartition title capitalize casefold
    isdigit isalpha isalnum isspace islower isupper isnumeric isdecimal
    removeprefix removesuffix translate expandtabs len
    union intersection difference symmetric_difference issubset issuperset
    isdisjoint
    exists is_file is_dir glob rglob iterdir read_text read_bytes resolve
    absolute joinpath with_suffix with_name relative_to stat open
    summary get_config evaluate
    """.split()
)

#: Functions known to change one of their arguments in place, by the last part
#: of their dotted name -> the position of that argument.
MUTATING_FUNCTIONS: dict[str, int] = {
    "shuffle": 0,  # random.shuffle(x), np.random.shuffle(x), rng.shuffle(x)
    "copyto": 0,  # np.copyto(dst, src)
    "put": 0,
    "place": 0,
    "putmask": 0,
    "fill_diagonal": 0,
    "heappush": 0,
    "heappop": 0,
    "heapify": 0,
    "heappushpop": 0,
    "heapreplace": 0,
    "insort": 0,
    "insort_left": 0,
    "insort_right": 0,
}

#: IPython magics that run their body as Python code in the user namespace.
CODE_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
CODE_LINE_MAGICS = frozenset({"time", "timeit", "prun"})
#: Magics whose argument line IPython does not expand (``@no_var_expand``);
#: every other magic line, and every ``!`` command, has ``{expr}`` and ``$name``
#: replaced by values from the user namespace.
NO_VAR_EXPAND_MAGICS = frozenset({"time", "timeit", "prun", "debug"})

#: Names a notebook kernel provides without any code defining them.
KERNEL_NAMES: frozenset[str] = frozenset(dir(builtins)) | frozenset(
    {
        "get_ipython",
        "display",
        "In",
        "Out",
        "_",
        "__",
        "___",
        "_i",
        "_ii",
        "_iii",
        "_ih",
        "_oh",
        "_dh",
        "exit",
        "quit",
        "__file__",
        "__name__",
        "__builtins__",
    }
)
