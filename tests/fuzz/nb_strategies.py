"""Hypothesis strategies for notebooks as a hostile (or just unlucky) user makes them.

Cells are drawn from real notebook code (the repository's example and fixture
notebooks) mixed with IPython syntax (line and cell magics, ``!`` lines,
``?`` help, ``$name``/``{expr}`` expansion), random text, huge lines and deep
nesting. Tags are ours, Kale's and papermill's, misspelled, random or not even
strings. Notebooks may be damaged at the JSON level (missing or mistyped keys,
foreign nbformat versions, deep nesting) and, as files, at the byte level
(truncated, not UTF-8, huge integers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]


def _real_cells() -> list[str]:
    cells: list[str] = []
    for path in sorted([*REPO.glob("tests/fixtures/**/*.ipynb"), *REPO.glob("example_notebooks/**/*.ipynb")]):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for cell in content.get("cells", []):
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                cells.append("".join(source) if isinstance(source, list) else source)
    return [c for c in cells if c.strip()] or ["x = 1"]


REAL_CELLS = _real_cells()
REAL_LINES = sorted({line for cell in REAL_CELLS for line in cell.splitlines() if line.strip()})

IPYTHON_LINES = [
    "%matplotlib inline", "%load_ext autoreload", "%autoreload 2", "%time y = f(x)", "%timeit -n 10 -r 3 g(x)",
    "%run helper.py", "%env SEED=1", "%pip install pandas", "%cd data", "%who", "%store df", "%config X.y = 1",
    "!pip install -q scikit-learn", "!ls -la {folder}", "!echo $name", "!wc -l $path 'quoted $x'", "!!date",
    "files = !ls *.csv", "out = %sx echo hi", "x = %who_ls", "df?", "df.head??", "%pinfo df", "obj.attr[0]?",
    "?", "/print a b", ",f a b", ";f a b", "%%", "!", "%", "  !indented", "$", "{", "}",
]
CELL_MAGICS = ["%%time", "%%timeit -n 1", "%%capture out", "%%bash", "%%writefile helper.py", "%%html",
               "%%javascript", "%%sh", "%%script python", "%%prun", "%%capture", "%%time?"]
PYTHON_BITS = ["if x:", "for i in range(n):", "def f(a, b=1):", "class C:", "with open(p) as fh:", "try:",
               "except ValueError:", "else:", "    return a", "    pass", "lambda: y", "x = (1,", "2)", "'''",
               "\"\"\"", "s = 'unterminated", "y = 1 \\", "# comment \\", "async def g():", "    await h()",
               "global gl", "del df['a']", "df.drop(columns=['a'], inplace=True)", "model.fit(X, y)",
               "print(f'{acc:.2f}')", "import numpy as np", "from sklearn import *", "x: int = 5", "n += 1"]

STEP_NAMES = ["load", "prep", "train", "eval", "a", "b", "_x", "report-1"]
PATHS = ["data.csv", "data/raw.csv", "model.pkl", "out/", "../shared/x.parquet", "/abs/file", "a b.txt",
         "données.csv", "x" * 255, "x" * 256, "é" * 128, "a\x00b", "\ud800", ".", "..", "", "  ", "*.csv"]
GOOD_TAGS = ["parameters", "pipeline-parameters", "metrics", "pipeline-metrics", "imports", "functions",
             "skip", "nocache", "injected-parameters", "hide-input", "remove-cell", "step:", "block:",
             "limit:nvidia.com/gpu=1", "image:python:3.11", "annotation:team=ml", "label:tier=1"]
PREFIXES = ["step", "block", "after", "prev", "in", "out", "limit", "image", "annotation", "label"]


def _misspell(draw: st.DrawFn, tag: str) -> str:
    if not tag:
        return tag
    i = draw(st.integers(0, len(tag) - 1))
    edit = draw(st.sampled_from(["drop", "double", "swap", "upper", "space", "char"]))
    if edit == "drop":
        return tag[:i] + tag[i + 1 :]
    if edit == "double":
        return tag[:i] + tag[i] + tag[i:]
    if edit == "swap" and i + 1 < len(tag):
        return tag[:i] + tag[i + 1] + tag[i] + tag[i + 2 :]
    if edit == "upper":
        return tag.upper()
    if edit == "space":
        return tag[:i] + " " + tag[i:]
    return tag[:i] + draw(st.characters()) + tag[i + 1 :]


@st.composite
def tags(draw: st.DrawFn) -> Any:
    """A cell's ``metadata.tags``: usually a list of tags, sometimes not a list at all."""
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(json_values)
    one = st.one_of(
        st.sampled_from(GOOD_TAGS),
        st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(PREFIXES), st.sampled_from(STEP_NAMES)),
        st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(["in", "out"]), st.sampled_from(PATHS)),
        st.builds(lambda p, n: f"{p}:{n}", st.sampled_from(["step", "block", "after", "prev"]),
                  st.text(max_size=12)),
        st.text(max_size=20),
        st.integers() | st.none() | st.booleans(),
    )
    result = draw(st.lists(one, max_size=5))
    if result and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(0, len(result) - 1))
        if isinstance(result[k], str):
            result[k] = _misspell(draw, result[k])
    return result


@st.composite
def code_sources(draw: st.DrawFn) -> str:
    """A code cell's text."""
    kind = draw(st.integers(0, 39))
    if kind == 0:  # huge: a long ! line, a long line ending in ?, a long cell
        n = draw(st.integers(1_000, 20_000))
        return draw(st.sampled_from([
            "!echo " + "a" * n, "!echo " + "a" * n + " ?", "!echo " + "$x 'y' " * (n // 7),
            "x = [" + "1, " * (n // 3) + "]", "!ls\n" * (n // 40), "%time x = " + "(" * 50 + "1" + ")" * 50,
        ]))
    if kind == 1:  # deep nesting
        depth = draw(st.integers(10, 1_500))
        opener, closer = draw(st.sampled_from([("[", "]"), ("(", ")"), ("{1:", "}"), ("f(", ")")]))
        return "x = " + opener * depth + closer * depth
    if kind == 2:
        return draw(st.text())
    if kind == 3:  # characters no file can hold, NULs, odd line ends
        return draw(st.sampled_from(["x = '\ud800'", "x = 1\x00", "a = 1\r\nb = a\r", "\ufeffx = 1", "\x0c\x0b"]))
    if kind < 12:
        return draw(st.sampled_from(REAL_CELLS))
    lines = draw(st.lists(st.one_of(st.sampled_from(REAL_LINES), st.sampled_from(IPYTHON_LINES),
                                    st.sampled_from(PYTHON_BITS)), min_size=1, max_size=10))
    if draw(st.integers(0, 5)) == 0:
        lines.insert(0, draw(st.sampled_from(CELL_MAGICS)))
    indent = draw(st.sampled_from(["", "", "", "    ", "\t"]))
    return "\n".join(indent + line if i else line for i, line in enumerate(lines))


@st.composite
def cells(draw: st.DrawFn) -> dict[str, Any]:
    cell_type = draw(st.sampled_from(["code"] * 8 + ["markdown", "raw"]))
    source = draw(code_sources()) if cell_type == "code" else draw(st.text(max_size=40))
    if draw(st.booleans()):
        source = source.splitlines(keepends=True)
    cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {"tags": draw(tags())}, "source": source}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    ident = draw(st.integers(0, 9))
    if ident < 6:
        cell["id"] = f"cell-{draw(st.integers(0, 99))}"
    elif ident == 6:
        cell["id"] = draw(json_values)
    if draw(st.integers(0, 9)) == 0:
        cell["metadata"].update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)))
    return cell


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def damage(draw: st.DrawFn, nb: dict[str, Any]) -> Any:
    """``nb`` with one structural defect."""
    kind = draw(st.integers(0, 11))
    if kind == 0:
        nb.pop(draw(st.sampled_from(["nbformat", "cells", "metadata", "nbformat_minor"])), None)
    elif kind == 1:
        nb["nbformat"] = draw(st.sampled_from([3, 2, 5, "4", 4.0, True, None, -1, 10**30]))
    elif kind == 2:
        nb["cells"] = draw(json_values)
    elif kind == 3:
        nb["metadata"] = draw(json_values)
    elif kind == 4:
        nb["metadata"]["kernelspec"] = draw(st.sampled_from([{"language": "R"}, "python", {"language": None}]))
    elif kind == 5:
        nb["metadata"][draw(st.sampled_from(["cellpipe", "kubeflow_notebook", "language_info"]))] = draw(json_values)
    elif kind == 6 and nb["cells"]:
        cell = draw(st.sampled_from(nb["cells"]))
        cell[draw(st.sampled_from(["cell_type", "source", "metadata"]))] = draw(json_values)
    elif kind == 7 and nb["cells"]:
        draw(st.sampled_from(nb["cells"]))["metadata"]["deep"] = _nested(draw(st.integers(50, 900)))
    elif kind == 8:
        nb["metadata"]["deep"] = _nested(draw(st.integers(50, 900)))
    elif kind == 9:
        return draw(json_values)
    elif kind == 10 and nb["cells"]:
        draw(st.sampled_from(nb["cells"])).pop(draw(st.sampled_from(["cell_type", "source", "metadata"])), None)
    else:
        nb["cells"].append({"cell_type": "code", "source": "x = '\udc80'", "metadata": {}})
    return nb


@st.composite
def notebooks(draw: st.DrawFn, damaged: bool = True) -> Any:
    """Notebook content as ``json.load`` gives it; damaged one time in five."""
    metadata: dict[str, Any] = {}
    if draw(st.booleans()):
        metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if draw(st.integers(0, 4)) == 0:
        metadata["cellpipe"] = draw(st.dictionaries(st.sampled_from(["name", "image"]), json_values, max_size=2))
    if draw(st.integers(0, 6)) == 0:
        metadata["kubeflow_notebook"] = {"pipeline_name": draw(json_values), "docker_image": draw(json_values)}
    nb = {"nbformat": 4, "nbformat_minor": draw(st.sampled_from([4, 5])), "metadata": metadata,
          "cells": draw(st.lists(cells(), max_size=8))}
    if damaged and draw(st.integers(0, 4)) == 0:
        return draw(damage(nb))
    return nb


@st.composite
def notebook_files(draw: st.DrawFn) -> bytes:
    """A notebook file's bytes: valid JSON mostly, damaged at the byte level one time in four."""
    content = draw(notebooks())
    text = json.dumps(content, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate written raw: what some broken writers do
        data = text.encode("utf-8", "surrogatepass")
    kind = draw(st.integers(0, 15))
    if kind == 0 and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == 1:
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    if kind == 2:
        return b"\xef\xbb\xbf" + data
    if kind == 3:
        return text.encode("utf-16", "surrogatepass")
    if kind == 4:
        return data.replace(b'"nbformat": 4', b'"nbformat": 4, "big": ' + b"7" * draw(st.integers(4_000, 6_000)), 1)
    if kind == 5:
        depth = draw(st.integers(500, 50_000))
        return data.replace(b'"nbformat": 4', b'"nbformat": 4, "deep": ' + b"[" * depth + b"]" * depth, 1)
    if kind == 6:
        return draw(st.binary(max_size=64))
    return data
