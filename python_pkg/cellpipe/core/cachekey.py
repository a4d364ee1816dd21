"""A step's cache key and the one predicate "up to date?" with its reason. Pure.

The key covers what decides a step's result and nothing else: the hashes of
its code cells, of the shared ``imports``/``functions`` cells and of the local
modules they import; the values of the parameters it uses; the content hashes
of its input variables and ``in:`` files; and the versions of Python and of the
packages its code imports. Cell positions, markdown, outputs and execution
counts are not in it, so editing prose never reruns anything.

Files a step reads without declaring them are only known once it has run: its
cache entry then holds their content hashes (``read``), and the key it is stored
under covers them. Looking a step up tries the static key first, then the static
key plus the current hashes of each file set an earlier run read
(:func:`with_read`), so changing such a file makes the step stale.
"""

from __future__ import annotations

from typing import Any

from cellpipe.core.digest import digest_json, digest_text
from cellpipe.core.parameters import parse_parameters
from cellpipe.model import NotebookInfo, Step

#: the hash recorded for a file that does not exist
MISSING = "missing"


def cell_hash(source: str) -> str:
    """The digest of one cell's source."""
    return digest_text(source)


def key_parts(
    step: Step,
    nb: NotebookInfo,
    params: dict[str, Any],
    var_inputs: dict[str, str],
    file_inputs: dict[str, str],
    modules: dict[str, str],
    env: dict[str, str],
) -> dict[str, Any]:
    """Everything the key is made of; ``where`` is for explanations only."""
    code_cells = [ref.index for ref in step.cells if nb.cells[ref.index].cell_type == "code"]
    in_place = {}
    if nb.parameters_cell is not None and parse_parameters(nb.cells[nb.parameters_cell].source).code:
        # its lines that are not literal parameters run in every step: code (absent otherwise, so that
        # the keys of literal-only parameters cells stay as they were)
        in_place = {"parameters_code": cell_hash(nb.cells[nb.parameters_cell].source)}
    return {
        **in_place,
        "code": [cell_hash(nb.cells[i].source) for i in code_cells],
        "shared": [cell_hash(nb.cells[i].source) for i in nb.shared_cells],
        "imports": list(step.imports),
        "modules": dict(sorted(modules.items())),
        "params": {name: params.get(name) for name in step.parameters},
        "variables": dict(sorted(var_inputs.items())),
        "files": dict(sorted(file_inputs.items())),
        "env": dict(sorted(env.items())),
        # what the step must hand on: the same code may feed other consumers elsewhere
        "produces": {"variables": list(step.var_outputs), "files": list(step.file_outputs)},
        "where": {"code": [i + 1 for i in code_cells], "shared": [i + 1 for i in nb.shared_cells],
                  "producers": {v.name: v.producer for v in step.var_inputs},
                  "learned": dict(step.learned)},
    }


def key_of(parts: dict[str, Any]) -> str:
    """The cache key: the digest of the parts (their ``where`` is for explanations only)."""
    return digest_json({k: v for k, v in parts.items() if k != "where"})


def with_read(parts: dict[str, Any], read: dict[str, str], base: str | None = None) -> dict[str, Any]:
    """The key parts plus the hashes of the files the step read at run time
    (without declaring them); ``base`` is the static key, kept for look-ups."""
    where = {**parts.get("where", {}), "base": base or parts.get("where", {}).get("base") or key_of(parts)}
    out = {**parts, "where": where}
    if read:
        out["read"] = dict(sorted(read.items()))
    else:
        out.pop("read", None)
    return out


def _diff_dict(kind: str, old: dict[str, Any], new: dict[str, Any], show_values: bool) -> str | None:
    for name in sorted(set(old) | set(new)):
        if name not in old:
            return f"new {kind} {name}"
        if name not in new:
            return f"{kind} {name} no longer used"
        if old[name] != new[name]:
            if show_values:
                return f"{kind} {name} changed ({old[name]!r} -> {new[name]!r})"
            return f"{kind} {name} changed"
    return None


def explain(old: dict[str, Any] | None, new: dict[str, Any]) -> str | None:
    """Why ``new`` differs from the last successful run's ``old``; None if it does not."""
    if old is None:
        return "never run"
    if any(len(d) != len(n) for d, n in zip(old.get("code", []), new.get("code", []), strict=False)):
        return "last run by an earlier cellpipe, whose hashes are not comparable"
    where = new.get("where", {})
    old_code, new_code = old.get("code", []), new.get("code", [])
    if old_code != new_code:
        numbers = where.get("code", [])
        for i, digest in enumerate(new_code):
            if i >= len(old_code) or old_code[i] != digest:
                if digest in old_code:
                    continue
                return f"code changed in cell {numbers[i]}" if i < len(numbers) else "code changed"
        return "code changed (cells removed or reordered)"
    if old.get("parameters_code") != new.get("parameters_code"):
        return "parameters cell changed (its lines that run in place)"
    if old.get("shared") != new.get("shared"):
        numbers = where.get("shared", [])
        for i, digest in enumerate(new.get("shared", [])):
            if digest not in old.get("shared", []):
                return f"shared imports/functions cell {numbers[i]} changed" if i < len(numbers) else "shared code changed"
        return "shared imports/functions cells changed"
    if old.get("imports") != new.get("imports"):
        return "imports changed"
    reason = _diff_dict("module", old.get("modules", {}), new.get("modules", {}), False)
    if reason:
        return reason
    reason = _diff_dict("parameter", old.get("params", {}), new.get("params", {}), True)
    if reason:
        return reason
    old_vars, new_vars = old.get("variables", {}), new.get("variables", {})
    for name in sorted(set(old_vars) | set(new_vars)):
        if old_vars.get(name) != new_vars.get(name):
            producer = where.get("producers", {}).get(name)
            return f"input {name} changed" + (f" (from step {producer})" if producer else "")
    reason = _diff_dict("input file", old.get("files", {}), new.get("files", {}), False)
    if reason:
        return reason
    old_read, new_read = old.get("read", {}), new.get("read", {})
    for name in sorted(set(old_read) | set(new_read)):
        if old_read.get(name) != new_read.get(name):
            state = "is missing" if new_read.get(name) == MISSING else "changed"
            return f"file {name} {state} (read at run time, not declared)"
    if old.get("produces") != new.get("produces"):
        learned = where.get("learned", {})
        before = (old.get("produces") or {}).get("variables", [])
        fresh = [v for v in (new.get("produces") or {}).get("variables", []) if v not in before and v in learned]
        if fresh:
            return (f"it changes {fresh[0]} in place (learned from run {learned[fresh[0]]}), "
                    "so it now passes it on")
        return "the variables or files it must save changed"
    old_env, new_env = old.get("env", {}), new.get("env", {})
    for name in sorted(set(old_env) | set(new_env)):
        if old_env.get(name) != new_env.get(name):
            return f"environment changed ({name} {old_env.get(name)} -> {new_env.get(name)})"
    return None
