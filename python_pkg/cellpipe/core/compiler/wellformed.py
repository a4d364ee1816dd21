"""Whether a notebook's JSON can be carried through at all: every string valid
Unicode (no lone surrogate, which no UTF-8 file can hold) and no nesting deeper
than JSON writers handle. Pure; part of the compiler's structure pass."""

from __future__ import annotations

import re
from typing import Any

#: deeper than any notebook needs (nbformat's own structure is about 6 levels),
#: and well within what Python's JSON writer can write back
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate(text: str) -> str | None:
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def _problem(value: Any) -> str | None:
    """What makes ``value`` impossible to carry through, or None (iterative: any depth)."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, str):
            char = _surrogate(item)
            if char:
                return (f"holds a lone surrogate character ({char}), which is not valid Unicode and "
                        "cannot be saved as UTF-8: delete it")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"is nested more than {MAX_DEPTH} levels deep"
            if isinstance(item, dict):
                todo.extend((key, depth + 1) for key in item)
                todo.extend((child, depth + 1) for child in item.values())
            else:
                todo.extend((child, depth + 1) for child in item)
    return None


def content_problem(content: dict[str, Any]) -> str | None:
    """Why the notebook ``content`` cannot be compiled whatever its tags, naming
    the cell; None when it can."""
    for i, cell in enumerate(content.get("cells") or []):
        problem = _problem(cell)
        if problem:
            return f"is not a valid notebook: cell {i + 1} {problem}"
    rest = {key: value for key, value in content.items() if key != "cells"}
    problem = _problem(rest)
    return f"is not a valid notebook: its metadata {problem}" if problem else None
