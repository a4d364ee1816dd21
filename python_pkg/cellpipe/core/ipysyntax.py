"""IPython syntax for the analysis: rewriting magics, ``!`` lines and ``?`` help
into Python with IPython's own transformer, and recognising the magic calls
that run code in the user namespace. Pure (IPython is imported on demand)."""

from __future__ import annotations

import ast
from functools import lru_cache


def is_magic_call(node: ast.Call, method: str) -> bool:
    """Whether ``node`` is ``get_ipython().<method>(...)``, as IPython rewrites magics."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == method
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
    )


def const_str(node: ast.AST) -> str | None:
    """The value of a string literal node, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def strip_magic_options(line: str) -> str:
    """``-n 10 -r 3 f(x)`` -> ``f(x)`` for %timeit-style option lists."""
    tokens = line.lstrip()
    while tokens.startswith("-"):
        head, _, rest = tokens.partition(" ")
        if head in ("-n", "-r", "-p", "-s", "-T", "-D", "-l") and rest:
            _, _, rest = rest.lstrip().partition(" ")
        tokens = rest.lstrip()
    return tokens


@lru_cache(maxsize=1)
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def to_python(source: str) -> str:
    """Rewrite IPython syntax (magics, ``!cmd``, ``x?``) into plain Python.

    Line for line: IPython drops leading blank lines, which are put back so
    that line numbers in the result are the cell's line numbers.
    """
    lines = source.splitlines()
    blank = next((i for i, line in enumerate(lines) if line.strip()), 0)
    return "\n" * blank + _transformer().transform_cell(source)


#: What the parser raises, besides SyntaxError, on code it cannot take: null
#: bytes (ValueError before Python 3.12), nesting too deep for its stack.
_PARSE_FAILURES = (ValueError, MemoryError, RecursionError)


def _parse_python(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except _PARSE_FAILURES as exc:
        raise SyntaxError(too_complex(exc), ("<cell>", 1, 0, "")) from exc


def too_complex(exc: BaseException) -> str:
    """The message for code the parser refused without a SyntaxError."""
    if isinstance(exc, ValueError):
        return str(exc)
    return "the code is nested too deeply for Python to compile it"


def parse_code(source: str) -> ast.Module:
    """Parse notebook code, IPython syntax included; raises only SyntaxError."""
    try:
        return _parse_python(source)
    except SyntaxError as exc:
        error = exc
    try:
        python = to_python(source)
    except Exception:  # noqa: BLE001 - IPython could not rewrite it: the first error stands
        raise error from None
    return _parse_python(python)
