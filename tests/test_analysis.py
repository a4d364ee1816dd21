"""Data-flow analysis of notebook code: which names a cell reads, binds and
changes in place. This is what decides which step produces each variable, so
every row below is a rule a user can rely on (DESIGN.md §2)."""

from __future__ import annotations

import pytest

from cellpipe.core.analysis import CodeFacts, analyze, to_python


def effects(source: str) -> tuple[tuple[str, ...], set[str], set[str]]:
    """(reads, binds, mutates) of ``source``, failing on a syntax error."""
    facts = analyze(source)
    assert facts.syntax_error is None, facts.syntax_error
    return facts.reads, set(facts.binds), set(facts.mutates)


# -- reads, binds and in-place changes -------------------------------------------

EFFECTS = [
    # (source, reads in order of first use, binds, mutates)
    ("x = 1", (), {"x"}, set()),
    ("y = f(x)", ("f", "x"), {"y"}, set()),
    ("x = 1\ny = x", (), {"x", "y"}, set()),
    ("y = x\nx = 1", ("x",), {"x", "y"}, set()),
    ("a = b = c", ("c",), {"a", "b"}, set()),
    ("a, *rest = items", ("items",), {"a", "rest"}, set()),
    ("[a, (b, c)] = t", ("t",), {"a", "b", "c"}, set()),
    ("x: int = 5", ("int",), {"x"}, set()),
    ("x: int", ("int",), set(), set()),
    # augmented assignment reads the name first, then rebinds it
    ("x += y", ("x", "y"), {"x"}, set()),
    ("total -= 1", ("total",), {"total"}, set()),
    # del needs the name and unbinds it: the deleting step is its last producer
    ("del x", ("x",), {"x"}, set()),
    ("del x, y[0]", ("x", "y"), {"x"}, {"y"}),
    # item and attribute assignment change the root in place
    ("df['a'] = 1", ("df",), set(), {"df"}),
    ("df.loc[:, 'a'] = 0", ("df",), set(), {"df"}),
    ("df.a = 1", ("df",), set(), {"df"}),
    ("cfg.model.depth = d", ("d", "cfg"), set(), {"cfg"}),
    ("df.a.b[c] = d", ("d", "df", "c"), set(), {"df"}),
    ("x[f(y)] = 1", ("x", "f", "y"), set(), {"x"}),
    ("df['b'] += 1", ("df",), set(), {"df"}),
    ("x.y += z", ("x", "z"), set(), {"x"}),
    ("del df['a']", ("df",), set(), {"df"}),
    ("del df.a", ("df",), set(), {"df"}),
    ("df.x: int = 5", ("int", "df"), set(), {"df"}),
    # a name bound in the same code and then changed is both
    ("x = []\nx.append(1)", (), {"x"}, {"x"}),
    # read-only methods leave the object alone
    ("df.head()", ("df",), set(), set()),
    ("df.describe()", ("df",), set(), set()),
    ("x = df.copy()", ("df",), {"x"}, set()),
    ("p = m.predict(X)", ("m", "X"), {"p"}, set()),
    ("m.predict_proba(X)", ("m", "X"), set(), set()),
    ("df.plot()", ("df",), set(), set()),
    ("df.groupby('a').mean()", ("df",), set(), set()),
    ("s = df['a'].value_counts()", ("df",), {"s"}, set()),
    ("df.str.lower()", ("df",), set(), set()),
    ("X_train.shape", ("X_train",), set(), set()),
    ("df2 = df.drop(columns=['a'])", ("df",), {"df2"}, set()),
    ("df.drop(columns=['a'], inplace=False)", ("df",), set(), set()),
    # any other method is taken to change its object
    ("lst.append(1)", ("lst",), set(), {"lst"}),
    ("m.fit(X, y)", ("m", "X", "y"), set(), {"m"}),
    ("d.update(e)", ("d", "e"), set(), {"d"}),
    ("x.sort()", ("x",), set(), {"x"}),
    ("x[0].append(1)", ("x",), set(), {"x"}),
    ("df.a.append(1)", ("df",), set(), {"df"}),
    # inplace=True changes it, whatever the method; so may inplace=flag
    ("df.drop('a', inplace=True)", ("df",), set(), {"df"}),
    ("df.fillna(0, inplace=True)", ("df",), set(), {"df"}),
    ("df.dropna(inplace=flag)", ("df", "flag"), set(), {"df"}),
    # functions known to change an argument
    ("shuffle(x)", ("shuffle", "x"), set(), {"x"}),
    ("np.random.shuffle(X[0])", ("np", "X"), set(), {"np", "X"}),
    ("heapq.heappush(h, 1)", ("heapq", "h"), set(), {"heapq", "h"}),
    # calling a function on a name only reads it
    ("print(x)", ("print", "x"), set(), set()),
    ("y = sorted(x)", ("sorted", "x"), {"y"}, set()),
    ("f(x).append(1)", ("f", "x"), set(), set()),
    ("train(model, X)", ("train", "model", "X"), set(), set()),
    # loops, with, except bind their targets
    ("for i, j in pairs:\n    total = i", ("pairs",), {"i", "j", "total"}, set()),
    ("for x in x:\n    pass", ("x",), {"x"}, set()),
    ("for a.b in xs:\n    pass", ("xs", "a"), set(), {"a"}),
    ("with open(p) as fh:\n    data = fh.read()", ("open", "p"), {"fh", "data"}, {"fh"}),
    ("with a as (b, c):\n    pass", ("a",), {"b", "c"}, set()),
    ("try:\n    pass\nexcept ValueError as e:\n    msg = str(e)", ("ValueError", "str"), {"e", "msg"}, set()),
    ("try:\n    x = 1\nexcept* ValueError as eg:\n    y = eg", ("ValueError",), {"x", "eg", "y"}, set()),
    ("while (line := f.readline()):\n    lines.append(line)", ("f", "lines"), {"line"}, {"f", "lines"}),
    ("if (n := len(a)) > 1:\n    pass", ("len", "a"), {"n"}, set()),
    # match statements
    (
        "match cmd:\n"
        "    case [a, *rest]:\n        x = a\n"
        "    case {'k': v, **kw}:\n        y = v\n"
        "    case Point(x=px) if px > limit:\n        z = px\n"
        "    case Color.RED:\n        w = 1\n"
        "    case other:\n        u = other",
        ("cmd", "Point", "limit", "Color"),
        {"a", "rest", "x", "v", "kw", "y", "px", "z", "w", "other", "u"},
        set(),
    ),
    # comprehensions: loop variables are local, the first iterable is read outside
    ("y = [i * k for i in xs if i > t]", ("xs", "t", "k"), {"y"}, set()),
    ("y = [f(a, b) for v in vs]", ("vs", "f", "a", "b"), {"y"}, set()),
    ("y = [i for xs in xss for i in xs]", ("xss",), {"y"}, set()),
    ("g = (f(a) for a in items)", ("items", "f"), {"g"}, set()),
    ("d = {k: v for k, v in pairs}", ("pairs",), {"d"}, set()),
    ("s = {i for i in range(n)}", ("range", "n"), {"s"}, set()),
    ("[x for x in x]", ("x",), set(), set()),
    ("y = [[j for j in row] for row in grid]", ("grid",), {"y"}, set()),
    ("[x.append(i) for i in r]", ("r", "x"), set(), {"x"}),
    ("[i.append(1) for i in lists]", ("lists",), set(), set()),
    # a walrus binds the enclosing scope, inside a comprehension too
    ("y = [z := v for v in vs]", ("vs",), {"y", "z"}, set()),
    ("[y for x in xs if (y := g(x))]", ("xs", "g"), {"y"}, set()),
    ("[total := total + v for v in vs]", ("vs", "total"), {"total"}, set()),
    # class bodies run now
    ("class C(Base):\n    a = b\n    c = a", ("Base", "b"), {"C"}, set()),
    ("@dataclass\nclass C:\n    x: int = 0", ("dataclass", "int"), {"C"}, set()),
    ("class C:\n    registry.append(1)", ("registry",), {"C"}, {"registry"}),
    # a function definition reads its decorators, defaults and annotations now
    ("@deco\ndef f():\n    pass", ("deco",), {"f"}, set()),
    ("def f(a=b, *, c: T = d) -> R:\n    pass", ("b", "d", "T", "R"), {"f"}, set()),
    # a global statement at top level changes nothing
    ("global g\ng = 1", (), {"g"}, set()),
]


@pytest.mark.parametrize(
    "source, reads, binds, mutates", EFFECTS, ids=[row[0].replace("\n", "⏎") for row in EFFECTS]
)
def test_reads_binds_and_mutates(source, reads, binds, mutates):
    assert effects(source) == (reads, binds, mutates)


MODEL_CELLS = [
    # (a model cell, what it changes in place)
    ("m = RandomForestClassifier()\nm.fit(X_train, y_train)", {"m"}),
    ("m = LogisticRegression(max_iter=200).fit(X_train, y_train)", set()),
    ("m = SVC(probability=True)\nm.fit(X_train, y_train)\nscore = m.score(X_test, y_test)", {"m"}),
    ("m = make_pipeline(StandardScaler(), KNeighborsClassifier())\nm.fit(X_train, y_train)", {"m"}),
    ("m = GradientBoostingClassifier()\nm.fit(X_train.values, y_train.to_numpy())\nX_train.head()", {"m"}),
]


@pytest.mark.parametrize("source, mutates", MODEL_CELLS, ids=[f"model {i + 1}" for i in range(len(MODEL_CELLS))])
def test_model_cells_that_only_read_the_training_data_do_not_change_it(source, mutates):
    """Five models trained on the same data are five independent steps: none of
    them is a producer of X_train or y_train, so they can run in parallel."""
    facts = analyze(source)
    assert {"X_train", "y_train"} <= set(facts.reads)
    assert set(facts.mutates) == mutates
    assert "m" in facts.binds
    assert not facts.touches & {"X_train", "y_train"}


# -- functions and lambdas: free names are read when called ---------------------

LATE = [
    # (source, reads, late_reads, binds, mutates)
    ("def f(a):\n    b = a + c\n    return b + d", (), ("c", "d"), {"f"}, set()),
    ("def f(*args, k=1, **kw):\n    return args, k, kw, g", (), ("g",), {"f"}, set()),
    ("def f():\n    y = x\n    x = 1", (), (), {"f"}, set()),  # x is local to f
    ("def f():\n    return [i * n for i in range(3)]", (), ("range", "n"), {"f"}, set()),
    ("def outer():\n    def inner():\n        return z\n    return inner", (), ("z",), {"outer"}, set()),
    ("def outer(z):\n    def inner():\n        return z\n    return inner", (), (), {"outer"}, set()),
    ("def f():\n    lst.append(1)", (), ("lst",), {"f"}, {"lst"}),
    ("def f(df):\n    df['a'] = 1", (), (), {"f"}, set()),
    ("async def f():\n    async for i in aiter():\n        pass", (), ("aiter",), {"f"}, set()),
    # global inside a function binds (or changes) the module-level name
    ("def f():\n    global g\n    g = 1", (), (), {"f", "g"}, set()),
    ("def f():\n    global g\n    g.append(1)", (), ("g",), {"f"}, {"g"}),
    ("def f():\n    global n\n    n += 1", (), ("n",), {"f", "n"}, set()),
    # lambdas
    ("f = lambda a: a + b", (), ("b",), {"f"}, set()),
    ("f = lambda a=d: a", ("d",), (), {"f"}, set()),
    ("key = lambda row: row[col]\nrows.sort(key=key)", ("rows",), ("col",), {"key"}, {"rows"}),
    ("fs = [lambda: i for i in range(3)]", ("range",), (), {"fs"}, set()),
    ("fs = [lambda: i + k for i in range(3)]", ("range",), ("k",), {"fs"}, set()),
    # methods do not see the class body's names
    ("class C:\n    a = 1\n    def m(self):\n        return a + b", (), ("a", "b"), {"C"}, set()),
    ("class C:\n    def m(self):\n        self.x = q", (), ("q",), {"C"}, set()),
]


@pytest.mark.parametrize(
    "source, reads, late_reads, binds, mutates", LATE, ids=[row[0].replace("\n", "⏎") for row in LATE]
)
def test_function_bodies_read_late(source, reads, late_reads, binds, mutates):
    facts = analyze(source)
    assert (facts.reads, facts.late_reads, set(facts.binds), set(facts.mutates)) == (
        reads,
        late_reads,
        binds,
        mutates,
    )


# -- imports ---------------------------------------------------------------------

IMPORTS = [
    # (source, imports: name -> statement, star_import)
    ("import numpy as np", (("np", "import numpy as np"),), False),
    ("import os.path", (("os", "import os.path"),), False),
    ("import os, sys", (("os", "import os"), ("sys", "import sys")), False),
    ("from a.b import c as d", (("d", "from a.b import c as d"),), False),
    ("from . import e", (("e", "from . import e"),), False),
    ("from ..pkg import f, g", (("f", "from ..pkg import f"), ("g", "from ..pkg import g")), False),
    ("from sklearn.metrics import *", (), True),
    ("from m import *\nimport os", (("os", "import os"),), True),
    # a later assignment makes the name an ordinary variable
    ("import numpy as np\nnp = 1", (), False),
    ("def f():\n    import json\n    return json", (), False),
]


@pytest.mark.parametrize("source, imports, star", IMPORTS, ids=[row[0].replace("\n", "⏎") for row in IMPORTS])
def test_imports(source, imports, star):
    facts = analyze(source)
    assert (facts.imports, facts.star_import) == (imports, star)
    assert {name for name, _ in imports} <= facts.binds


# -- IPython syntax --------------------------------------------------------------

IPYTHON = [
    # (source, reads, late_reads, binds, mutates)
    ("%time x = f(y)", ("f", "y"), (), {"x"}, set()),
    ("%time lst.append(1)", ("lst",), (), set(), {"lst"}),
    ("%timeit -n 10 -r 3 f(y)", ("f", "y"), (), set(), set()),
    ("%%time\nx = f(y)\nz = x + w\n", ("f", "y", "w"), (), {"x", "z"}, set()),
    ("%%timeit\nf(y)\n", ("f", "y"), (), set(), set()),
    ("%%capture out\nx = f(y)\n", ("f", "y"), (), {"out", "x"}, set()),
    ("%%capture --no-stderr captured\nm.fit(X)\n", ("m", "X"), (), {"captured"}, {"m"}),
    ("x = 1\n%time y = g(x)\nz = 2", ("g",), (), {"x", "y", "z"}, set()),
    # get_ipython is the kernel's: the compiler never asks a step for it
    ("!ls", ("get_ipython",), (), set(), set()),
    ("files = !ls", ("get_ipython",), (), {"files"}, set()),
    ("x?", ("get_ipython",), (), set(), set()),
    ("x??", ("get_ipython",), (), set(), set()),
    ("%matplotlib inline", ("get_ipython",), (), set(), set()),
    ("%load_ext autoreload\n%autoreload 2", ("get_ipython",), (), set(), set()),
    ("%%bash\necho {not_python}\n", ("get_ipython",), (), set(), set()),
    ("%%writefile helper.py\nx = 1\n", ("get_ipython",), (), set(), set()),
    ("%pip install -q pandas\nimport pandas as pd", ("get_ipython",), (), {"pd"}, set()),
    ("!ls\ny = x + 1", ("get_ipython", "x"), (), {"y"}, set()),
    # IPython expands {expr} and $name in ! commands and magic lines: a name
    # there is used when it is defined (a parameter, a variable), else left as text
    ("!mkdir -p {out_dir}", ("get_ipython",), ("out_dir",), set(), set()),
    ("!wget $url -O data.csv", ("get_ipython",), ("url",), set(), set()),
    ("files = !ls {root}/{sub + '/x'}", ("get_ipython",), ("root", "sub"), {"files"}, set()),
    ("!echo $$HOME {{literal}}", ("get_ipython",), (), set(), set()),
    ("!awk '{print $1}' data.txt", ("get_ipython",), (), set(), set()),
    ("%cd {workdir}", ("get_ipython",), ("workdir",), set(), set()),
    ("%%writefile {path}\nx = {not_read}\n", ("get_ipython",), ("path",), set(), set()),
    ("%time f({x})", ("f", "x"), (), set(), set()),  # %time runs Python: {x} is a set display
]


@pytest.mark.parametrize(
    "source, reads, late_reads, binds, mutates", IPYTHON, ids=[row[0].replace("\n", "⏎") for row in IPYTHON]
)
def test_ipython_syntax_is_understood(source, reads, late_reads, binds, mutates):
    facts = analyze(source)
    assert facts.syntax_error is None
    assert (facts.reads, facts.late_reads, set(facts.binds), set(facts.mutates)) == (
        reads,
        late_reads,
        binds,
        mutates,
    )


def test_to_python_keeps_the_cells_line_numbers():
    source = "\n\n!ls\nx = 1\n"
    python = to_python(source)
    assert python.splitlines()[2:4] == ["get_ipython().system('ls')", "x = 1"]


# -- where names are first set (for diagnostics) --------------------------------

LINES = [
    # (source, {name: first line bound or changed})
    ("x = 1\ny = 2\nx = 3", {"x": 1, "y": 2}),
    ("a = 1\n\ndf['a'] = a", {"a": 1, "df": 3}),
    ("try:\n    pass\nexcept E as e:\n    pass", {"e": 3}),
    ("%%time\nx = 1\n\ny = 2\n", {"x": 2, "y": 4}),
    ("\n\n%%time\nx = 1\n", {"x": 4}),
    ("\n\n!ls\nx = 1", {"x": 4}),
    ("x = 1\n%time y = 2", {"x": 1, "y": 2}),
    ("%%capture out\nx = 1\n", {"out": 1, "x": 2}),
]


@pytest.mark.parametrize("source, lines", LINES, ids=[row[0].replace("\n", "⏎") for row in LINES])
def test_line_of_first_change(source, lines):
    facts = analyze(source)
    assert dict(facts.lines) == lines
    for name, line in lines.items():
        assert facts.line_of(name) == line
    assert facts.line_of("never_bound") is None


# -- code that does not parse -----------------------------------------------------

SYNTAX_ERRORS = [
    # (source, (line, message))
    ("x = (", (1, "'(' was never closed")),
    ("def f(:\n    pass", (1, "invalid syntax")),
    ("x = 1\n  y = 2", (2, "unexpected indent")),
    ("if True:\nprint(1)", (2, "expected an indented block after 'if' statement on line 1")),
    ("x = f'''", (1, "unterminated triple-quoted string literal (detected at line 1)")),
    ("!ls\nx = 1\ny = (", (3, "'(' was never closed")),
    ("\n\n!ls\nx = 1\ny = (", (5, "'(' was never closed")),
    # the code a magic runs is checked too, its line counted in the cell
    ("%time x = (", (1, "'(' was never closed")),
    ("a = 1\n%time x = (", (2, "'(' was never closed")),
    ("%%time\nx = 1\ny = (\n", (3, "'(' was never closed")),
    ("x = 1\x00", (1, "source code string cannot contain null bytes")),
    # too deep for Python's own parser or compiler
    ("x = " + "-" * 100_000 + "1", (1, "the code is nested too deeply for Python to compile it")),
    ("x = " + "+".join(["a"] * 5_000), (1, "the code is nested too deeply for Python to compile it")),
]


@pytest.mark.parametrize(
    "source, error", SYNTAX_ERRORS, ids=[repr(row[0][:30]) for row in SYNTAX_ERRORS]
)
def test_a_syntax_error_is_reported_never_raised(source, error):
    assert analyze(source).syntax_error == error


def test_a_syntax_error_reports_no_other_facts():
    assert analyze("y = x\nx = (") == CodeFacts(syntax_error=(2, "'(' was never closed"))


@pytest.mark.parametrize("source", ["", "\n\n", "# only a comment", "pass", "..."])
def test_code_that_does_nothing(source):
    assert analyze(source) == CodeFacts()


def test_touches_is_what_the_code_binds_or_changes():
    facts = analyze("a = 1\nb.append(a)\nprint(c)")
    assert facts.touches == frozenset({"a", "b"})


# -- effects that depend on other cells (cellpipe.core.compiler.effects) ------------------------

from cellpipe.core.compiler import effects as effects_mod  # noqa: E402


def resolve(*cells: str) -> effects_mod.Effects:
    return effects_mod.resolve({i: analyze(c) for i, c in enumerate(cells)}, ())


STATEFUL = [
    # (made by, used by, changed?)  -- the type comes from the call that made the value
    ("import numpy as np\nr = np.random.RandomState(0)", "f(r)", True),
    ("from numpy.random import default_rng\nr = default_rng(0)", "g(x, random_state=r)", True),
    ("import random\nr = random.Random(1)", "random.shuffle(items, r)", True),
    ("r = iter([1, 2])", "next(r)", True),
    ("r = (i for i in range(3))", "for v in r:\n    pass", True),
    ("import itertools\nr = itertools.count()", "[v for v in r if v < 0]", True),
    ("r = open('f.txt')", "json.load(r)", True),
    ("from sklearn.svm import SVC\nr = SVC()", "fit_it(r)", True),
    # read-only functions, and estimators given to functions that fit clones, stay read-only
    ("import numpy as np\nr = np.random.default_rng(0)", "print(r)", False),
    ("from sklearn.svm import SVC\nr = SVC()", "cross_val_score(r, X, y)", False),
    ("from sklearn.svm import SVC\nr = SVC()", "GridSearchCV(r, grid)", False),
    # a name is not a type: `rng` made by a plain call is an ordinary value
    ("import numpy as np\nrng = np.ones(3)", "f(rng)", False),
    ("r = [1, 2]", "for v in r:\n    pass", False),
    ("from sklearn.metrics import accuracy_score as r", "f(r)", False),
]


@pytest.mark.parametrize("made, used, changed", STATEFUL, ids=[row[1][:25] for row in STATEFUL])
def test_a_stateful_value_passed_to_a_function_is_changed_by_it(made, used, changed):
    root = "rng" if "rng =" in made else "r"
    assert (root in resolve(made, used).mutates.get(1, {})) is changed


def test_a_notebook_function_changes_the_arguments_its_body_changes():
    eff = resolve("def train(m, X, *, log):\n    m.fit(X)\n    log.append(1)\n    return X",
                  "train(model, data, log=notes)")
    assert set(eff.mutates[1]) == {"model", "notes"}


SETTINGS = [
    ("import pandas as pd\npd.set_option('display.max_rows', 5)", "pandas.set_option"),
    ("from sklearn import set_config\nset_config(transform_output='pandas')", "sklearn.set_config"),
    ("import matplotlib.pyplot as plt\nplt.style.use('ggplot')", "matplotlib.pyplot.style.use"),
    ("import matplotlib as mpl\nmpl.rcParams['font.size'] = 3", "matplotlib.rcParams"),
    ("import os\nos.environ['A'] = '1'", "os.environ"),
    ("import os\nos.chdir('data')", "os.chdir"),
    ("import sys\nsys.path.insert(0, 'lib')", "sys.path.insert"),
    ("import warnings\nwarnings.simplefilter('ignore')", "warnings.simplefilter"),
    ("import numpy\nnumpy.set_printoptions(precision=2)", "numpy.set_printoptions"),
    ("import pandas as pd\npd.options.display.max_rows = 5", "pandas.options.display.max_rows"),
    ("%matplotlib inline", "%matplotlib"),
    ("%env DATA=/tmp", "%env"),
]


@pytest.mark.parametrize("source, what", SETTINGS, ids=[row[1] for row in SETTINGS])
def test_process_wide_settings_are_found_whatever_the_alias(source, what):
    found = resolve(source).settings
    assert [s.what for s in found] == [what]
    assert found[0].statement is not None


def test_printing_the_environment_is_not_a_setting():
    assert resolve("%env").settings == [] and resolve("%env HOME").settings == []


DRAWS = [
    ("import numpy as np\nnp.random.rand(3)", "numpy"),
    ("from numpy import random\nrandom.normal()", "numpy"),
    ("import random\nrandom.choice([1, 2])", "random"),
    ("from sklearn.model_selection import train_test_split\ntrain_test_split(X)", "numpy"),
    ("df.sample(3)", "numpy"),
]


@pytest.mark.parametrize("source, generator", DRAWS, ids=[row[0].splitlines()[-1] for row in DRAWS])
def test_draws_from_global_generators(source, generator):
    assert [d.generator for d in resolve(source).draws] == [generator]


@pytest.mark.parametrize("source", [
    "import numpy as np\nnp.random.default_rng(0)",
    "import numpy as np\nnp.random.seed(0)",
    "from sklearn.model_selection import train_test_split\ntrain_test_split(X, random_state=0)",
    "df.sample(3, random_state=1)",
])
def test_seeding_or_a_generator_of_ones_own_is_no_draw(source):
    assert resolve(source).draws == []
