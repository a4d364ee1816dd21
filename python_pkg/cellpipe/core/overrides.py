"""Parameter overrides from the command line or a file, checked against the
types read from the notebooks' ``parameters`` cells. Pure."""

from __future__ import annotations

import json
from typing import Any

from cellpipe.core.parameters import describe_types, fits, schema_types
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline


class TypedText(str):
    """A value as a user typed it (``-p NAME=VALUE``): its type is decided against
    the parameter it sets (:func:`typed_value`), so ``-p tag=123`` sets a string
    parameter to the text ``"123"`` and an integer parameter to the number 123."""


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


def typed_value(text: str, schema: dict[str, Any]) -> Any:
    """The value ``text`` stands for, given the parameter's schema: typed like
    :func:`parse_value`, but kept as text when that type does not fit and the
    parameter takes a string (an ``Optional[str]`` typed as ``123``)."""
    text = str(text)  # plain text from here on
    value = parse_value(text)
    if not fits(value, schema) and "string" in schema_types(schema):
        return text
    return value


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` items as typed text, keyed by NAME (or NOTEBOOK.NAME)."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r}: write parameters as NAME=VALUE (or NOTEBOOK.NAME=VALUE)")
        values[name.strip()] = TypedText(value)
    return values


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
            typed = typed_value(value, param.schema) if isinstance(value, TypedText) else value
            if not fits(typed, param.schema):
                raise UsageError(
                    f"parameter {param.name!r} of {nb.path} expects {describe_types(param.schema)}, "
                    f"got {typed!r} ({type(typed).__name__})"
                )
            values[nb.path][param.name] = typed
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
