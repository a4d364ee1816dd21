"""Parameters and metrics cells, read with the AST. Pure.

A ``parameters`` cell holds literal assignments only (annotated or not); each
becomes a typed pipeline parameter with a JSON-schema-like type. A ``metrics``
cell names the scalar values recorded as the step's metrics.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .analysis import _dotted, _parse, to_python


@dataclass(frozen=True)
class ParamLine:
    """One parameter read from a ``parameters`` cell."""

    name: str
    default: object
    schema: dict
    line: int
    annotation: str | None = None


@dataclass(frozen=True)
class ParamProblem:
    line: int
    message: str
    fix: str


@dataclass
class ParametersCell:
    params: list[ParamLine] = field(default_factory=list)
    problems: list[ParamProblem] = field(default_factory=list)


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
    "Any": None,
}


def _schema_of_value(value: object) -> dict:
    if value is None:  # no annotation, default None: any type is accepted
        return {}
    kind = _PY_TO_SCHEMA.get(type(value))
    return {"type": kind} if kind else {}


def _schema_of_annotation(node: ast.AST) -> dict | None:
    """JSON-schema-like type of an annotation; None when it is not understood."""
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
            base = _dotted(n.value) or ""
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
        name = _dotted(n)
        if name is None:
            return False
        name = name.rsplit(".", 1)[-1]
        if name not in _ANNOTATION_TO_SCHEMA:
            return False
        kind = _ANNOTATION_TO_SCHEMA[name]
        if kind is None:
            return False
        types.append(kind)
        return True

    if not walk(node):
        return None
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


def parse_parameters(source: str) -> ParametersCell:
    """Read a ``parameters`` cell with the AST: literal assignments only."""
    result = ParametersCell()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        try:
            tree = ast.parse(to_python(source))
        except SyntaxError as exc:
            result.problems.append(
                ParamProblem(exc.lineno or 1, f"syntax error: {exc.msg}", "fix the Python syntax")
            )
            return result
    fix = (
        "a parameters cell holds only literal assignments such as `n_estimators = 100`; "
        "move computed values into a step"
    )
    for stmt in tree.body:
        line = stmt.lineno
        if isinstance(stmt, ast.Assign):
            value_node, targets, annotation = stmt.value, stmt.targets, None
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            value_node, targets, annotation = stmt.value, [stmt.target], stmt.annotation
        else:
            snippet = ast.unparse(stmt).splitlines()[0]
            result.problems.append(
                ParamProblem(line, f"line {line} is not an assignment: `{snippet}`", fix)
            )
            continue
        try:
            value = ast.literal_eval(value_node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            snippet = ast.unparse(value_node)
            result.problems.append(
                ParamProblem(line, f"line {line} assigns a non-literal value `{snippet}`", fix)
            )
            continue
        names: list[tuple[str, object]] = []
        ok = True
        for target in targets:
            if isinstance(target, ast.Name):
                names.append((target.id, value))
            elif (
                isinstance(target, ast.Tuple)
                and all(isinstance(e, ast.Name) for e in target.elts)
                and isinstance(value, tuple)
                and len(value) == len(target.elts)
            ):
                names.extend((e.id, v) for e, v in zip(target.elts, value, strict=True))  # type: ignore[attr-defined]
            else:
                ok = False
        if not ok:
            result.problems.append(
                ParamProblem(
                    line,
                    f"line {line} assigns to `{ast.unparse(targets[0])}`, not a plain name",
                    fix,
                )
            )
            continue
        for name, val in names:
            schema = _schema_of_annotation(annotation) if annotation is not None else None
            if schema is None:
                schema = _schema_of_value(val)
            result.params.append(
                ParamLine(
                    name=name,
                    default=_jsonable(val),
                    schema=schema,
                    line=line,
                    annotation=ast.unparse(annotation) if annotation is not None else None,
                )
            )
    return result


def metric_names(source: str) -> list[str]:
    """Names a ``metrics`` cell records: top-level assignments, ``print(x)``
    arguments (Kale's ``pipeline-metrics`` style) and a bare trailing name."""
    try:
        tree = _parse(source)
    except SyntaxError:
        return []
    names: list[str] = []

    def add(name: str) -> None:
        if name not in names:
            names.append(name)

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                for node in ast.walk(target):
                    if isinstance(node, ast.Name):
                        add(node.id)
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
