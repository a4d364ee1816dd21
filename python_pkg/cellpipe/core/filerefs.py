"""Literal file paths in a step's code: what ``validate`` hints at (a path passed
to a known reader or writer that no ``in:``/``out:`` tag declares) and the
absolute paths the run-time file tracker counts as named by the step. Pure.

The readers and writers are data in :mod:`cellpipe.core.rules`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cellpipe.core.analysis import dotted_name as _dotted
from cellpipe.core.ipysyntax import parse_code as _parse
from cellpipe.core.rules import FILE_READERS, FILE_WRITERS


@dataclass(frozen=True)
class FileRef:
    """A call that reads or writes a file named by a string literal."""

    mode: str  # "read" or "write"
    call: str  # the call as written, e.g. "pd.read_csv"
    path: str
    line: int


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    # Path("data/x.csv") and pathlib.Path("data") / "x.csv" name a file too
    if isinstance(node, ast.Call) and (_dotted(node.func) or "").split(".")[-1] in ("Path", "PurePath") \
            and len(node.args) == 1 and not node.keywords:
        return _literal(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left.rstrip("/") + "/" + right
    return None


def _looks_like_path(text: str) -> bool:
    """A short single-line string with a folder or a file extension, not a URL."""
    if not text or len(text) > 300 or "\n" in text or "://" in text or text.strip() != text:
        return False
    tail = text.rsplit("/", 1)[-1]
    return "/" in text or ("." in tail and not tail.startswith(".") and " " not in text)


def _rule(name: str, table: dict[str, int]) -> int | None:
    """The argument position for a dotted call name: an exact dotted key
    (``np.load``) or, for undotted keys, the name's last part (``read_csv``)."""
    parts = name.split(".")
    for n in range(min(len(parts), 2), 0, -1):
        key = ".".join(parts[-n:])
        if key in table and (n > 1 or "." not in key):
            return table[key]
    return None


def file_refs(source: str) -> list[FileRef]:
    """The literal paths the code passes to known file readers and writers."""
    try:
        tree = _parse(source)
    except SyntaxError:
        return []
    refs: list[FileRef] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _dotted(func)
        if name is None and isinstance(func, ast.Attribute):
            name = func.attr  # a method of an expression: Path("x").read_text(), df.groupby(..).to_csv(..)
        if name is None:
            continue
        for mode, table in (("read", FILE_READERS), ("write", FILE_WRITERS)):
            position = _rule(name, table)
            if position is None:
                continue
            if position < 0:
                arg = func.value if isinstance(func, ast.Attribute) else None
            else:
                arg = node.args[position] if len(node.args) > position else None
            path = _literal(arg)
            if mode == "read" and name.split(".")[-1] == "open" and position == 0:
                mode = _open_mode(node)
            if path is not None and _looks_like_path(path):
                refs.append(FileRef(mode, name, path, node.lineno))
            break
    return sorted(refs, key=lambda r: (r.line, r.path))


def _open_mode(node: ast.Call) -> str:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
    return "write" if any(c in text for c in "wax+") else "read"


def absolute_literals(source: str) -> list[str]:
    """String constants that are absolute (or ``~``) paths: files outside the
    project the step names itself, which the run-time tracker then counts."""
    try:
        tree = _parse(source)
    except SyntaxError:
        return []
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith(("/", "~/")) and len(text) > 1 and _looks_like_path(text):
                found[text] = None
    return list(found)
