"""Parameters and metrics cells, read with the AST. Pure.

In a ``parameters`` cell, as papermill reads it, each literal assignment
(annotated or not) becomes a typed pipeline parameter with a JSON-schema-like
type; every other line (a computed default, an import, ``pass``, a magic) is
:class:`ParamCode`: it runs in place, before any override. A ``metrics`` cell
names the scalar values recorded as the step's metrics.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cellpipe.core.analysis import dotted_name
from cellpipe.core.ipysyntax import parse_code


@dataclass(frozen=True)
class ParamLine:
    """One parameter read from a ``parameters`` cell."""

    name: str
    default: object
    schema: dict[str, object]
    line: int
    annotation: str | None = None
    #: the default as a Python literal (keeps tuples and non-string dict keys,
    #: which ``default``, being JSON, cannot)
    literal: str | None = None
    end_line: int | None = field(default=None, compare=False)  # a default written over several lines


@dataclass(frozen=True)
class ParamCode:
    """A statement of a ``parameters`` cell that is not a literal parameter: it runs
    in place, with the defaults (papermill injects overrides after the whole cell)."""

    line: int
    end_line: int
    text: str  # as written
    binds: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParamProblem:
    """A line of a ``parameters`` cell that is not a usable parameter."""

    line: int
    message: str
    fix: str


@dataclass
class ParametersCell:
    """The parameters a ``parameters`` cell declares, in order, and its problems."""

    params: list[ParamLine] = field(default_factory=list)
    problems: list[ParamProblem] = field(default_factory=list)
    #: the other statements, in order: they run in place (see :class:`ParamCode`)
    code: list[ParamCode] = field(default_factory=list)


_PY_TO_SCHEMA = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    list: "array",
    tuple: "array",
    set: "array",
    dict: "object",
}
_ANNOTATION_TO_SCHEMA = {
    "bool": "boolean",
    "int": "integer",
    "float": "number",
    "str": "string",
    "None": "null",
    "NoneType": "null",
    "list": "array",
    "List": "array",
    "tuple": "array",
    "Tuple": "array",
    "set": "array",
    "dict": "object",
    "Dict": "object",
    "Any": "any",
}
_MATCHES: dict[str, Callable[[object], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, (list, tuple, set, frozenset)),
    "object": lambda v: isinstance(v, dict),
}


def schema_types(schema: Mapping[str, object]) -> list[str]:
    """The JSON types a parameter's schema allows; ``[]`` allows any value."""
    declared = schema.get("type")
    if not declared:
        return []
    if isinstance(declared, str):
        return [declared]
    return [str(kind) for kind in declared] if isinstance(declared, (list, tuple)) else []


def fits(value: object, schema: Mapping[str, object]) -> bool:
    """Whether ``value`` is of a type the schema allows: the one parameter type check.

    A kind this cellpipe does not know (a schema written by a newer one) accepts
    every value rather than refusing a run it cannot judge.
    """
    kinds = schema_types(schema)
    return not kinds or any(_MATCHES.get(kind, lambda v: True)(value) for kind in kinds)


def describe_types(schema: Mapping[str, object]) -> str:
    """The allowed types for a message: ``integer``, ``string or null``, ``any``."""
    return " or ".join(schema_types(schema)) or "any"


def _schema_of_value(value: object) -> dict[str, object]:
    if value is None:  # no annotation, default None: any type is accepted
        return {}
    kind = _PY_TO_SCHEMA.get(type(value))
    return {"type": kind} if kind else {}


def _schema_of_annotation(node: ast.AST) -> dict[str, object] | None:
    """JSON-schema-like type of an annotation; None when it is not understood.

    ``Any`` (alone or in a union) accepts every value: ``{}``.
    """
    types: list[str] = []

    def walk(n: ast.AST) -> bool:
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr):
            return walk(n.left) and walk(n.right)
        if isinstance(n, ast.Constant) and n.value is None:
            types.append("null")
            return True
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            try:
                return walk(ast.parse(n.value, mode="eval").body)
            except SyntaxError:
                return False
        if isinstance(n, ast.Subscript):
            base = dotted_name(n.value) or ""
            base = base.rsplit(".", 1)[-1]
            if base == "Optional":
                types.append("null")
                return walk(n.slice)
            if base == "Union":
                elts = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
                return all(walk(e) for e in elts)
            if base == "Literal":
                elts = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
                for e in elts:
                    if isinstance(e, ast.Constant):
                        kind = _PY_TO_SCHEMA.get(type(e.value))
                        if kind:
                            types.append(kind)
                return True
            return walk(n.value)
        name = dotted_name(n)
        if name is None:
            return False
        name = name.rsplit(".", 1)[-1]
        if name not in _ANNOTATION_TO_SCHEMA:
            return False
        types.append(_ANNOTATION_TO_SCHEMA[name])
        return True

    if not walk(node):
        return None
    if "any" in types:
        return {}
    unique: list[str] = []
    for t in types:
        if t not in unique:
            unique.append(t)
    if "number" in unique and "integer" in unique:
        unique.remove("integer")
    return {"type": unique[0] if len(unique) == 1 else unique}


def _jsonable(value: object) -> object:
    if isinstance(value, (tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _code(stmt: ast.stmt, lines: list[str]) -> ParamCode:
    """A statement that runs in place: what it binds and reads at the cell's top level."""
    end = stmt.end_lineno or stmt.lineno
    text = "\n".join(lines[stmt.lineno - 1:end]) if end <= len(lines) else ast.unparse(stmt)
    binds: list[str] = []
    reads: list[str] = []
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        binds = [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        binds = [stmt.name]
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            target = binds if isinstance(node.ctx, (ast.Store, ast.Del)) else reads
            if node.id not in target:
                target.append(node.id)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        reads.append(stmt.target.id)  # `n += 1` reads n too
    targets: list[Any] = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    for node in targets:  # `cfg["k"] = 1`, `opts.x = 1`: changes cfg, opts
        while isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
            if isinstance(node, ast.Name) and node.id not in binds:
                binds.append(node.id)
    return ParamCode(stmt.lineno, end, text, tuple(binds), tuple(dict.fromkeys(reads)))


def parse_parameters(source: str) -> ParametersCell:
    """Read a ``parameters`` cell with the AST, as papermill does.

    Each name assigned a literal becomes a :class:`ParamLine`, typed from its
    annotation when there is one it understands, else from its value. Every
    assignment is listed in order: a name assigned twice appears twice (the
    last one is the value the cell leaves; the compiler warns). Every other
    statement (a computed value, an import, ``pass``, a target that is not a
    plain name) is :class:`ParamCode`, run in place. A default its annotation
    rejects, or a value JSON cannot hold, is a :class:`ParamProblem`. Never raises.
    """
    result = ParametersCell()
    try:
        tree = parse_code(source)
    except SyntaxError as exc:
        result.problems.append(
            ParamProblem(exc.lineno or 1, f"syntax error: {exc.msg}", "fix the Python syntax")
        )
        return result
    lines = source.splitlines()
    for stmt in tree.body:
        line = stmt.lineno
        if isinstance(stmt, ast.Assign):
            value_node, targets, annotation = stmt.value, stmt.targets, None
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            value_node, targets, annotation = stmt.value, [stmt.target], stmt.annotation
        else:  # an import, `pass`, a magic, `n += 1`: runs in place
            result.code.append(_code(stmt, lines))
            continue
        try:
            value = ast.literal_eval(value_node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            result.code.append(_code(stmt, lines))  # a computed default: runs in place
            continue
        names: list[tuple[str, object]] = []
        ok = True
        for target in targets:
            if isinstance(target, ast.Name):
                names.append((target.id, value))
            elif (
                isinstance(target, (ast.Tuple, ast.List))
                and all(isinstance(e, ast.Name) for e in target.elts)
                and isinstance(value, (tuple, list))
                and len(value) == len(target.elts)
            ):
                names.extend((e.id, v) for e, v in zip(target.elts, value, strict=True))  # type: ignore[attr-defined]
            else:
                ok = False
        if not ok:  # `cfg["a"] = 1`, `a, b = 1, 2, 3`: runs in place
            result.code.append(_code(stmt, lines))
            continue
        for name, val in names:
            default = _jsonable(val)
            if not _is_json(default):
                result.problems.append(
                    ParamProblem(
                        line,
                        f"line {line} gives `{name}` the value `{val!r}`, which a pipeline "
                        "manifest (JSON) cannot hold",
                        "use a number, string, boolean, None, list or dict (e.g. a string "
                        "the step converts)",
                    )
                )
                continue
            schema = _schema_of_annotation(annotation) if annotation is not None else None
            if schema is not None and not fits(val, schema):
                if val is None:  # `path: str = None`: None is allowed, as in old-style hints
                    kinds = schema["type"]
                    schema = {"type": [*(kinds if isinstance(kinds, list) else [kinds]), "null"]}
                else:
                    result.problems.append(
                        ParamProblem(
                            line,
                            f"line {line} gives `{name}` the default `{val!r}`, which its "
                            f"annotation `{ast.unparse(annotation)}` does not allow",  # type: ignore[arg-type]
                            "change the default or the annotation so that they agree",
                        )
                    )
                    continue
            if schema is None:
                schema = _schema_of_value(val)
            result.params.append(
                ParamLine(
                    name=name,
                    default=default,
                    schema=schema,
                    line=line,
                    annotation=ast.unparse(annotation) if annotation is not None else None,
                    literal=repr(val),
                    end_line=stmt.end_lineno,
                )
            )
    return result


def emitted_source(source: str) -> str:
    """The ``parameters`` cell as a compiled step runs it: as written, except that
    an annotated parameter's annotation becomes a comment (the names it uses may be
    imported only by shared cells, which run after this cell in a step)."""
    cell = parse_parameters(source)
    lines = source.splitlines()
    for param in reversed(cell.params):
        if param.annotation is None or param.literal is None:
            continue
        end = param.end_line or param.line
        lines[param.line - 1:end] = [f"{param.name} = {param.literal}  # {param.annotation}"]
    return "\n".join(lines)


def metric_names(source: str) -> list[str]:
    """Names a ``metrics`` cell records, in order: names assigned at top level,
    names printed (``print(x)``, ``print(f"{x:.2f}")``: Kale's
    ``pipeline-metrics`` style) and names on a line of their own (a trailing
    one is what Jupyter displays). Item and attribute assignments record
    nothing: they change a container, not a scalar."""
    try:
        tree = parse_code(source)
    except SyntaxError:
        return []
    names: list[str] = []

    def add(name: str) -> None:
        if name not in names:
            names.append(name)

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for node in _target_names(target):
                    add(node)
        elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and isinstance(
            stmt.target, ast.Name
        ):
            add(stmt.target.id)
        elif isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.Name):
                add(value.id)
            elif (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "print"
            ):
                for arg in value.args:
                    if isinstance(arg, ast.Name):
                        add(arg.id)
                    elif isinstance(arg, ast.JoinedStr):
                        for part in arg.values:
                            if isinstance(part, ast.FormattedValue) and isinstance(
                                part.value, ast.Name
                            ):
                                add(part.value.id)
    return names


def _target_names(target: ast.AST) -> list[str]:
    """Plain names an assignment target binds (``a``, ``a, (b, *c)``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(elt)]
    return []


_SWEEP_COMMENT = re.compile(r"#\s*sweep\s*:\s*(?P<space>.*?)\s*$")


def sweep_annotations(source: str) -> dict[str, str]:
    """``{name: space}`` from a parameters cell's ``# sweep: SPACE`` comments
    (``n_estimators: int = 100  # sweep: 50..500 log``), for the parameters
    :func:`parse_parameters` accepts; the space's grammar is
    :mod:`cellpipe.core.space`'s. Never raises."""
    lines = source.splitlines()
    found: dict[str, str] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return found
    comments = {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}
    for param in parse_parameters(source).params:
        # the comment on the assignment's line, or on the last line of a value written over several
        end = param.line
        while end + 1 <= len(lines) and end not in comments and lines[end - 1].rstrip().endswith(("(", "[", "{", ",")):
            end += 1
        match = _SWEEP_COMMENT.search(comments.get(param.line) or comments.get(end) or "")
        if match and match["space"]:
            found[param.name] = match["space"]
    return found
