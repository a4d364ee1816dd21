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
    summary2 summary_frame conf_int t_test f_test wald_test t_test_pairwise
    get_prediction get_influence cov_params bse tvalues pvalues
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


# -- values whose state advances when they are used ---------------------------------------------------
#
# A value of one of these types changes when it is *used*, not only when it is
# assigned to: a random generator draws, an iterator or a file moves on, an
# estimator is fitted. The type is known from the call that made the value
# (``rng = np.random.default_rng(0)``), never guessed from the name. Passing
# such a value to a function that is not known to leave it alone
# (``train_test_split(X, y, random_state=rng)``, ``next(it)``) or iterating over
# it (``for row in reader``) counts as changing it in place: the step becomes
# its producer for later steps. A function defined in the notebook is judged by
# its own body instead: it changes the arguments whose parameters it changes.

#: Calls that make a stateful value, by qualified name -> the kind of value.
STATEFUL_CONSTRUCTORS: dict[str, str] = {
    "numpy.random.RandomState": "random generator",
    "numpy.random.mtrand.RandomState": "random generator",
    "numpy.random.default_rng": "random generator",
    "numpy.random.Generator": "random generator",
    "random.Random": "random generator",
    "torch.Generator": "random generator",
    "iter": "iterator",
    "enumerate": "iterator",
    "zip": "iterator",
    "map": "iterator",
    "filter": "iterator",
    "reversed": "iterator",
    "csv.reader": "iterator",
    "csv.DictReader": "iterator",
    "open": "open file",
    "io.open": "open file",
    "gzip.open": "open file",
    "bz2.open": "open file",
    "lzma.open": "open file",
    "sklearn.pipeline.make_pipeline": "estimator",
    "sklearn.pipeline.make_union": "estimator",
    "sklearn.compose.make_column_transformer": "estimator",
}
#: Every call into these modules makes an iterator.
ITERATOR_MODULES: tuple[str, ...] = ("itertools.",)
#: A class (a CamelCase name) from these packages makes an estimator: fitting changes it.
ESTIMATOR_PACKAGES: tuple[str, ...] = ("sklearn.", "xgboost.", "lightgbm.", "catboost.", "imblearn.")
#: Kinds whose values cannot be saved by one step and loaded by another (they
#: hold a running frame or an operating-system handle): validate refuses passing them.
UNPASSABLE: frozenset[str] = frozenset({"generator", "open file"})
#: Kinds that iterating over consumes.
CONSUMED_BY_ITERATION: frozenset[str] = frozenset({"iterator", "generator", "open file"})

#: Functions that change none of their arguments, whatever their type (by the
#: last part of the name).
READ_ONLY_FUNCTIONS: frozenset[str] = frozenset(
    """
    print repr str type isinstance issubclass id hash len bool display getattr hasattr vars dir
    callable format copy deepcopy dumps clone
    """.split()
)
#: Functions that leave an estimator passed to them unfitted: they fit a clone
#: (by the last part of the name). A random generator passed to them still advances.
ESTIMATOR_READ_ONLY_FUNCTIONS: frozenset[str] = frozenset(
    """
    cross_val_score cross_validate cross_val_predict learning_curve validation_curve
    permutation_test_score permutation_importance partial_dependence from_estimator
    GridSearchCV RandomizedSearchCV HalvingGridSearchCV HalvingRandomSearchCV
    BaggingClassifier BaggingRegressor VotingClassifier VotingRegressor StackingClassifier
    StackingRegressor AdaBoostClassifier AdaBoostRegressor OneVsRestClassifier OneVsOneClassifier
    MultiOutputClassifier MultiOutputRegressor CalibratedClassifierCV SelectFromModel RFE RFECV
    SequentialFeatureSelector TransformedTargetRegressor dump
    """.split()
)


# -- process-wide settings ---------------------------------------------------------------------------
#
# Each step runs in its own kernel, so a setting made in one step would reach
# only that step. cellpipe replays every top-level setting call below, in
# notebook order, at the start of each step that comes after it (after the
# step's inputs are loaded); the step's key includes them. A setting made
# inside a block (``if``, ``for``, ``with``, a function) is not replayed:
# ``validate`` warns (CP160) with the cell and the fix.

#: Calls that change a process-wide setting, by qualified name (a name ending
#: in ``.`` matches everything below it).
SETTING_CALLS: tuple[str, ...] = (
    "pandas.set_option", "pandas.reset_option", "pandas.options.",
    "sklearn.set_config",
    "numpy.set_printoptions", "numpy.seterr",
    "matplotlib.style.use", "matplotlib.pyplot.style.use", "matplotlib.rc", "matplotlib.pyplot.rc",
    "matplotlib.use", "matplotlib.pyplot.switch_backend", "matplotlib.rcParams.update",
    "matplotlib.pyplot.rcParams.update", "matplotlib.rcdefaults", "matplotlib.pyplot.rcdefaults",
    "matplotlib.pyplot.ioff", "matplotlib.pyplot.ion",
    "seaborn.set", "seaborn.set_theme", "seaborn.set_style", "seaborn.set_context", "seaborn.set_palette",
    "warnings.filterwarnings", "warnings.simplefilter", "warnings.resetwarnings",
    "os.chdir", "os.environ.update", "os.environ.setdefault", "os.environ.pop", "os.putenv",
    "sys.path.append", "sys.path.insert", "sys.path.extend", "sys.setrecursionlimit",
    "logging.basicConfig", "logging.disable",
    "torch.set_default_dtype", "torch.set_printoptions",
    "tqdm.pandas", "tqdm.tqdm.pandas", "tqdm.auto.tqdm.pandas", "tqdm.notebook.tqdm.pandas",
)
#: Assignments to these (``matplotlib.rcParams["font.size"] = 12``, ``os.environ["X"] = "1"``,
#: ``pd.options.display.max_rows = 10``) change a process-wide setting.
SETTING_ASSIGNS: tuple[str, ...] = (
    "matplotlib.rcParams", "matplotlib.pyplot.rcParams", "os.environ", "pandas.options.", "sys.path",
)
#: Line magics that change the kernel's settings (``%env`` only when it sets a variable).
SETTING_MAGICS: frozenset[str] = frozenset(
    {"matplotlib", "config", "env", "cd", "load_ext", "precision", "autoreload", "aimport"}
)

#: Seeding a global random generator, by qualified name -> which generator.
SEED_CALLS: dict[str, str] = {
    "numpy.random.seed": "numpy",
    "numpy.random.set_state": "numpy",
    "random.seed": "random",
    "random.setstate": "random",
    "torch.manual_seed": "torch",
    "tensorflow.random.set_seed": "tensorflow",
}
#: Calls below these draw from a global generator, except the names listed.
GLOBAL_DRAW_MODULES: dict[str, tuple[str, frozenset[str]]] = {
    "numpy.random.": ("numpy", frozenset(
        "seed set_state get_state RandomState default_rng Generator SeedSequence BitGenerator PCG64 "
        "PCG64DXSM MT19937 Philox SFC64".split())),
    "random.": ("random", frozenset("seed setstate getstate Random SystemRandom".split())),
    "torch.": ("torch", frozenset()),
}
#: ``torch.*`` calls that draw (the module is mostly not random).
TORCH_DRAWS: frozenset[str] = frozenset(
    "rand randn randint randperm normal bernoulli multinomial poisson rand_like randn_like randint_like".split()
)
#: Functions that draw from numpy's global generator unless given this keyword.
IMPLICIT_NUMPY_DRAWS: dict[str, str] = {
    "sklearn.model_selection.train_test_split": "random_state",
    "sklearn.utils.shuffle": "random_state",
    "sklearn.utils.resample": "random_state",
    "sklearn.datasets.make_classification": "random_state",
    "sklearn.datasets.make_regression": "random_state",
    "sklearn.datasets.make_blobs": "random_state",
    "sklearn.datasets.make_moons": "random_state",
    "sklearn.datasets.make_circles": "random_state",
}
#: Methods that draw from numpy's global generator unless given this keyword
#: (pandas' ``df.sample()``).
IMPLICIT_NUMPY_DRAW_METHODS: dict[str, str] = {"sample": "random_state"}
#: Calls that read a file named by one of their arguments -> that argument's
#: position. A key matches the end of the call's dotted name (``read_csv``
#: matches ``pd.read_csv`` and ``pandas.read_csv``; ``np.load`` only calls spelled
#: so, since ``yaml.load`` takes text). ``validate`` hints at a literal path passed
#: to one of these that no ``in:`` tag declares; the run tracks it either way.
FILE_READERS: dict[str, int] = {
    "open": 0, "read_csv": 0, "read_table": 0, "read_parquet": 0, "read_feather": 0, "read_json": 0,
    "read_excel": 0, "read_pickle": 0, "read_hdf": 0, "read_orc": 0, "read_fwf": 0, "read_stata": 0,
    "read_sas": 0, "read_spss": 0, "read_xml": 0, "read_html": 0, "np.load": 0, "numpy.load": 0,
    "np.loadtxt": 0, "numpy.loadtxt": 0, "np.genfromtxt": 0, "numpy.genfromtxt": 0, "np.fromfile": 0,
    "numpy.fromfile": 0, "np.memmap": 0, "numpy.memmap": 0, "joblib.load": 0, "torch.load": 0,
    "imread": 0, "Image.open": 0, "ParquetFile": 0, "dataset": 0, "read_text": -1, "read_bytes": -1,
}

#: Calls that write a file named by one of their arguments -> its position
#: (``-1``: the object the method is called on, as in ``Path("x").write_text(...)``).
FILE_WRITERS: dict[str, int] = {
    "to_csv": 0, "to_parquet": 0, "to_feather": 0, "to_json": 0, "to_excel": 0, "to_pickle": 0,
    "to_hdf": 0, "to_orc": 0, "to_stata": 0, "to_xml": 0, "to_html": 0, "np.save": 0, "numpy.save": 0,
    "np.savez": 0, "numpy.savez": 0, "np.savez_compressed": 0, "numpy.savez_compressed": 0,
    "np.savetxt": 0, "numpy.savetxt": 0, "tofile": 0, "joblib.dump": 1, "torch.save": 1, "savefig": 0,
    "imsave": 0, "imwrite": 0, "write_table": 1, "write_feather": 1, "write_text": -1, "write_bytes": -1,
}

#: Functions that open files in C++ (pyarrow), which Python's ``open`` audit event
#: never sees: the run-time file tracker wraps them. Module -> {function or
#: ``Class.__init__``: (``"r"``, ``"w"`` or ``"mode"`` (read from the call's
#: ``mode`` argument, the next one), position of the path, its keyword)}.
NATIVE_FILE_FUNCTIONS: dict[str, dict[str, tuple[str, int, str]]] = {
    "pyarrow": {"OSFile": ("mode", 0, "path"), "memory_map": ("mode", 0, "path"), "input_stream": ("r", 0, "source"),
                "output_stream": ("w", 0, "source"), "create_memory_map": ("w", 0, "path")},
    "pyarrow.parquet": {"read_table": ("r", 0, "source"), "read_metadata": ("r", 0, "where"),
                        "read_schema": ("r", 0, "where"), "ParquetFile.__init__": ("r", 0, "source"),
                        "ParquetDataset.__init__": ("r", 0, "path_or_paths"),
                        "write_table": ("w", 1, "where"), "write_to_dataset": ("w", 1, "root_path"),
                        "ParquetWriter.__init__": ("w", 0, "where")},
    "pyarrow.csv": {"read_csv": ("r", 0, "input_file"), "open_csv": ("r", 0, "input_file"),
                    "write_csv": ("w", 1, "output_file")},
    "pyarrow.json": {"read_json": ("r", 0, "input_file")},
    "pyarrow.feather": {"read_table": ("r", 0, "source"), "read_feather": ("r", 0, "source"),
                        "write_feather": ("w", 1, "dest")},
    "pyarrow.orc": {"read_table": ("r", 0, "source"), "ORCFile.__init__": ("r", 0, "source"),
                    "write_table": ("w", 1, "where")},
    "pyarrow.dataset": {"dataset": ("r", 0, "source"), "write_dataset": ("w", 1, "base_dir")},
}

#: Functions that evaluate a formula string (patsy's language, used by
#: statsmodels' formula API) in the caller's namespace: the names a formula uses
#: (``np.log(x)``, ``double_it(x)``, a variable that is not a column) are read by
#: the call, and again by any step that loads the fitted model (statsmodels
#: evaluates the formula again when it unpickles one). The formula is the call's
#: ``formula=`` argument or its first argument, a string literal or a name bound to one.
FORMULA_CALLS: frozenset[str] = frozenset(
    {"ols", "wls", "gls", "glsar", "glm", "logit", "probit", "mnlogit", "poisson", "negativebinomial",
     "generalized_poisson", "zeroinflated_poisson", "zeroinflated_negativebinomialp", "quantreg", "rlm",
     "mixedlm", "gee", "ordinal_gee", "nominal_gee", "phreg", "conditional_logit", "conditional_poisson",
     "conditional_mnlogit", "from_formula", "dmatrix", "dmatrices", "ols_formula"}
)
#: Methods that evaluate an expression in which ``@name`` reads a variable of the
#: caller (``df.query("x > @limit")``, ``df.eval("y = x * @k")``).
AT_NAME_METHODS: frozenset[str] = frozenset({"query", "eval"})

#: Attributes a library fills on first access, which the runtime guard ignores when it
#: checks whether a step changed a loaded value in place: reading ``res.bse`` or
#: printing ``res.summary()`` is not a change. Every private attribute named
#: ``_cache`` or ``_…cache`` is one; these are the others, by the module of the class.
LAZY_ATTRIBUTES: dict[str, frozenset[str]] = {
    # summary(); the HC*_se properties; PredictionResults.summary_frame(); a time-series
    # model's predict() (the dates of the last prediction)
    "statsmodels.": frozenset({"diagn", "_nobs_int", "het_scale", "table", "predict_dates", "predict_start",
                               "predict_end"}),
}

#: Context managers that restore a kind of setting when their block ends, by
#: qualified name -> the settings they restore (qualified prefixes): a setting made
#: inside such a block never reaches later cells, in Run All either.
RESTORING_CONTEXTS: dict[str, tuple[str, ...]] = {
    "warnings.catch_warnings": ("warnings.",),
    "pandas.option_context": ("pandas.set_option", "pandas.options."),
    "numpy.printoptions": ("numpy.set_printoptions",),
    "numpy.errstate": ("numpy.seterr",),
    "matplotlib.rc_context": ("matplotlib.rc", "matplotlib.pyplot.rc", "matplotlib.style.use",
                              "matplotlib.pyplot.style.use"),
    "matplotlib.pyplot.rc_context": ("matplotlib.rc", "matplotlib.pyplot.rc", "matplotlib.style.use",
                                     "matplotlib.pyplot.style.use"),
    "matplotlib.style.context": ("matplotlib.style.use", "matplotlib.pyplot.style.use"),
    "matplotlib.pyplot.style.context": ("matplotlib.style.use", "matplotlib.pyplot.style.use"),
}
