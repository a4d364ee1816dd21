"""The wire types are declared once per side and kept equal by this test:
Python's TypedDicts in :mod:`cellpipe.server.wire` and the TypeScript
interfaces in ``labextension/src/tokens.ts`` have the same names, the same
fields, the same field types, and the state unions are
:class:`cellpipe.model.StepState` / :class:`cellpipe.model.RunState`."""

from __future__ import annotations

import re
import types
import typing
from enum import Enum
from pathlib import Path

import pytest

from cellpipe.model import RunState, StepState
from cellpipe.server import wire

TOKENS = Path(__file__).resolve().parents[1] / "labextension" / "src" / "tokens.ts"

# -- reading tokens.ts -------------------------------------------------------------


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets, braces and parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "{[(<":
            depth += 1
        elif ch in "}])>":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _ts_aliases(source: str) -> dict[str, str]:
    return {m[1]: " ".join(m[2].split()) for m in re.finditer(r"export type (\w+)\s*=\s*([^;]+);", source)}


def _body(source: str, start: int) -> str:
    depth = 0
    for i in range(start, len(source)):
        if source[i] == "{":
            depth += 1
        elif source[i] == "}":
            depth -= 1
            if depth == 0:
                return source[start + 1:i]
    raise AssertionError("unbalanced braces in tokens.ts")


def _ts_interfaces(source: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """interface -> field -> (type text, optional)."""
    found = {}
    for m in re.finditer(r"export interface (\w+)\s*{", source):
        fields = {}
        for member in _split_top(_body(source, m.end() - 1).replace("\n", " "), ";"):
            name, _, kind = member.partition(":")
            name = name.strip()
            if name.startswith("["):  # an index signature: no field of its own
                fields["[index]"] = (" ".join(kind.split()), False)
                continue
            fields[name.rstrip("?")] = (" ".join(kind.split()), name.endswith("?"))
        found[m[1]] = fields
    return found


ENUMS = {"StepState": StepState, "RunState": RunState}
SOURCE = _strip_comments(TOKENS.read_text(encoding="utf-8"))
TS = _ts_interfaces(SOURCE)
ALIASES = _ts_aliases(SOURCE)

# -- one vocabulary for both sides -------------------------------------------------------


def _ts_type(text: str) -> frozenset[str]:
    """A TS type as a set of canonical members (``null`` included when nullable)."""
    members: set[str] = set()
    for part in _split_top(text, "|"):
        members |= _ts_member(part)
    if "string" in members:  # 'code' | 'raw' | string is a string
        members = {m for m in members if not m.startswith("'")}
    return frozenset(members)


def _ts_member(part: str) -> set[str]:
    part = part.strip()
    if part.startswith("(") and part.endswith(")"):
        return set(_ts_type(part[1:-1]))
    if part.endswith("[]"):
        return {f"{'|'.join(sorted(_ts_type(part[:-2])))}[]"}
    if part.startswith("[") and part.endswith("]"):  # a tuple: a list on the Python side
        items = set().union(*(_ts_type(p) for p in _split_top(part[1:-1], ",")))
        return {f"{'|'.join(sorted(items))}[]"}
    if part.startswith("{"):
        inner = _split_top(part[1:-1], ";")
        if len(inner) == 1 and inner[0].startswith("["):  # { [key: string]: X }
            return {f"{{{'|'.join(sorted(_ts_type(inner[0].partition(']:')[2])))}}}"}
        return {"object"}
    if part.startswith('"') or part.startswith("'"):
        return {"'" + part.strip("'\"") + "'"}
    if part in ("number", "string", "boolean", "null", "JSONValue", "unknown"):
        return {part}
    if part in ALIASES and part not in ENUMS:  # a union spelled once, e.g. Severity
        return set(_ts_type(ALIASES[part]))
    return {part}  # an interface name, or a state union (the Python enums)


def _py_type(hint: object) -> frozenset[str]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return frozenset().union(*(_py_type(a) for a in typing.get_args(hint)))
    if hint is type(None):
        return frozenset({"null"})
    if hint is typing.Any:
        return frozenset({"JSONValue"})
    if hint is str:
        return frozenset({"string"})
    if hint in (int, float):
        return frozenset({"number"})
    if hint is bool:
        return frozenset({"boolean"})
    if origin is typing.Literal:
        return frozenset("'" + str(a) + "'" for a in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return frozenset({f"{'|'.join(sorted(_py_type(item)))}[]"})
    if origin is dict:
        _, value = typing.get_args(hint)
        return frozenset({f"{{{'|'.join(sorted(_py_type(value)))}}}"})
    if isinstance(hint, type) and issubclass(hint, Enum):
        return frozenset({hint.__name__})
    if typing.is_typeddict(hint):
        return frozenset({hint.__name__})
    raise AssertionError(f"no TypeScript counterpart for {hint!r}")


PY = {name: obj for name, obj in vars(wire).items() if typing.is_typeddict(obj) and not name.startswith("_")}


def _py_fields(cls: type) -> dict[str, tuple[frozenset[str], bool]]:
    hints = typing.get_type_hints(cls)
    optional = getattr(cls, "__optional_keys__", frozenset())
    return {name: (_py_type(hint), name in optional) for name, hint in hints.items()}


# -- the contract ---------------------------------------------------------------------


def test_every_python_wire_type_has_a_typescript_twin_of_the_same_name():
    missing = sorted(set(PY) - set(TS))
    assert not missing, f"declare these in tokens.ts too: {missing}"


@pytest.mark.parametrize("name", sorted(PY))
def test_a_wire_type_has_the_same_fields_and_types_on_both_sides(name):
    py, ts = _py_fields(PY[name]), TS[name]
    assert sorted(ts) == sorted(py), f"{name}: fields differ (tokens.ts vs wire.py)"
    for field, (py_type, py_optional) in py.items():
        ts_text, ts_optional = ts[field]
        ts_type = _ts_type(ts_text)
        assert ts_optional == py_optional, f"{name}.{field}: optional on one side only"
        assert ts_type == py_type, f"{name}.{field}: tokens.ts says {ts_text}, wire.py {sorted(py_type)}"


@pytest.mark.parametrize(("alias", "enum"), [("StepState", StepState), ("RunState", RunState)])
def test_the_state_unions_are_the_python_enums(alias, enum):
    assert _ts_type(ALIASES[alias]) == frozenset(f"'{s.value}'" for s in enum)


def test_the_manifest_the_compiler_emits_has_exactly_the_declared_fields():
    from cellpipe.core.emit import manifest
    from conftest import compile_cells

    pipeline = compile_cells(("nb.ipynb", [("n: int | None = 1", ("parameters",)), ("x = n", ("step:a",)),
                                           ("y = x", ("step:b", "in:data.csv", "out:out.csv"))])).pipeline
    data = manifest(pipeline)
    assert set(data) == set(TS["IManifest"])
    assert set(data["notebooks"][0]) == set(TS["IManifestNotebook"])
    assert set(data["steps"][1]) == set(TS["IManifestStep"])
    assert set(data["steps"][1]["cells"][0]) == set(TS["IStepCell"])
    assert set(data["steps"][1]["inputs"]["variables"][0]) == set(TS["IVariableInput"])
    assert set(data["notebooks"][0]["parameters"]["n"]) <= set(TS["IParameterSpec"])
    assert data["notebooks"][0]["parameters"]["n"]["schema"] == {"type": ["integer", "null"]}


def test_the_reader_of_tokens_ts_can_fail():
    # a drifted field is noticed: the comparison is not vacuous
    assert _ts_type("string | number | null") != _py_type(float | None)
    assert _ts_type("number | null") == _py_type(float | None)
