"""Parameter overrides from the command line or a file, checked against the
types read from the notebooks' ``parameters`` cells. Pure."""

from __future__ import annotations

import json
from typing import Any

from cellpipe.errors import UsageError
from cellpipe.model import Pipeline


def parse_value(text: str) -> Any:
    """Type a ``-p NAME=VALUE`` value like papermill does, plus JSON lists and objects."""
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if text in ("None", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text[:1] in "[{\"":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def parse_assignments(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r}: write parameters as NAME=VALUE (or NOTEBOOK.NAME=VALUE)")
        values[name.strip()] = parse_value(value)
    return values


_JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, dict),
}


def check_type(value: Any, schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if not kinds:
        return True
    if isinstance(kinds, str):
        kinds = [kinds]
    return any(_JSON_TYPES.get(k, lambda v: True)(value) for k in kinds)


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[:-6] if name.endswith(".ipynb") else name


def resolve(pipeline: Pipeline, overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{notebook: {name: value}}``: defaults with the overrides applied.

    ``NAME`` sets NAME in every notebook that declares it; ``NOTEBOOK.NAME``
    (NOTEBOOK is the file name without ``.ipynb``) in that notebook only.
    """
    values = {nb.path: {p.name: p.default for p in nb.parameters} for nb in pipeline.notebooks}
    stems = {_stem(nb.path): nb for nb in pipeline.notebooks}
    known = sorted({p.name for nb in pipeline.notebooks for p in nb.parameters})
    for key, value in overrides.items():
        targets = []
        if "." in key and key.rsplit(".", 1)[0] in stems:
            stem, name = key.rsplit(".", 1)
            nb = stems[stem]
            if nb.parameter(name) is None:
                names = ", ".join(p.name for p in nb.parameters) or "none"
                raise UsageError(f"unknown parameter {name!r} for notebook {nb.path}; its parameters: {names}")
            targets = [(nb, nb.parameter(name))]
        else:
            targets = [(nb, nb.parameter(key)) for nb in pipeline.notebooks if nb.parameter(key) is not None]
            if not targets:
                raise UsageError(
                    f"unknown parameter {key!r}; known parameters: {', '.join(known) or 'none'}"
                )
        for nb, param in targets:
            assert param is not None
            if not check_type(value, param.schema):
                kinds = param.schema.get("type")
                expected = " or ".join(kinds) if isinstance(kinds, list) else kinds
                raise UsageError(
                    f"parameter {param.name!r} of {nb.path} expects {expected}, "
                    f"got {value!r} ({type(value).__name__})"
                )
            values[nb.path][param.name] = value
    return values


def parse_params_text(text: str, path: str) -> dict[str, Any]:
    """Overrides from a parameters file's text (YAML, or JSON when ``path`` ends
    in ``.json``): a mapping of NAME or NOTEBOOK.NAME."""
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - both parsers' errors become one message
        raise UsageError(f"the parameters file {path} is not valid: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"the parameters file {path} must hold a mapping of NAME: VALUE")
    return {str(key): value for key, value in data.items()}
