"""Effects that depend on more than one cell: which calls change a value of a
stateful type, which statements change a process-wide setting, and who draws
from a global random generator. Pure; part of the compiler.

The rules are data in :mod:`cellpipe.core.rules`. Names are qualified through
the notebook's imports (``np.random.seed`` with ``import numpy as np`` is
``numpy.random.seed``), so the rules hold whatever alias a notebook uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cellpipe.core import rules
from cellpipe.core.analysis import CallFact, CodeFacts, Definition


@dataclass(frozen=True)
class Setting:
    """A statement that changes a process-wide setting."""

    cell: int
    line: int
    what: str  # the qualified call or target, for messages
    statement: str | None  # None: inside a block, cannot be replayed
    seed: str | None = None  # the global generator it seeds, if any


@dataclass(frozen=True)
class Draw:
    """A draw from a global random generator."""

    cell: int
    line: int
    generator: str
    what: str


@dataclass
class Effects:
    """What :func:`resolve` found for one notebook."""

    #: cell -> names the cell changes in place beyond what its own facts say
    mutates: dict[int, dict[str, int]] = field(default_factory=dict)
    settings: list[Setting] = field(default_factory=list)
    draws: list[Draw] = field(default_factory=list)
    #: name -> its definitions in notebook order: (cell, definition); shared cells at -1
    definitions: dict[str, list[tuple[int, Definition]]] = field(default_factory=dict)
    #: cell -> names it binds or advances whose value cannot go to another kernel
    #: (a generator, an open file) -> that kind
    unpassable: dict[int, dict[str, str]] = field(default_factory=dict)


def aliases(facts: Iterable[CodeFacts]) -> dict[str, str]:
    """Name -> the module or object an import binds it to (``np`` -> ``numpy``)."""
    out: dict[str, str] = {}
    for f in facts:
        for name, stmt in f.imports:
            out[name] = _imported(stmt, name)
    return out


def _imported(stmt: str, name: str) -> str:
    words = stmt.split()
    if words[0] == "import":
        module = words[1]
        return module if "as" in words else module.split(".")[0]
    module, obj = words[1], words[3]
    return f"{module}.{obj}" if not module.startswith(".") else obj


def qualify(dotted: str, names: Mapping[str, str]) -> str:
    head, dot, rest = dotted.partition(".")
    if head in names:
        return names[head] + dot + rest
    return dotted


def _matches(qualified: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("."):
            if qualified.startswith(pattern):
                return True
        elif qualified == pattern or qualified.startswith(pattern + "."):
            return True
    return False


def _kind(source: str, names: Mapping[str, str], generators: set[str]) -> str | None:
    """The stateful kind of the value a call to ``source`` makes, if any."""
    if not source:
        return None
    if source == "<generator>" or source in generators:
        return "generator"
    q = qualify(source, names)
    if q in rules.STATEFUL_CONSTRUCTORS:
        return rules.STATEFUL_CONSTRUCTORS[q]
    if any(q.startswith(m) for m in rules.ITERATOR_MODULES):
        return "iterator"
    last = q.rsplit(".", 1)[-1]
    if any(q.startswith(p) for p in rules.ESTIMATOR_PACKAGES) and last[:1].isupper():
        return "estimator"
    return None


def _draw(call: CallFact, q: str, names: Mapping[str, str], kinds: Mapping[str, str]) -> str | None:
    """Which global generator this call draws from, if any."""
    last = q.rsplit(".", 1)[-1]
    for prefix, (gen, exempt) in rules.GLOBAL_DRAW_MODULES.items():
        if q.startswith(prefix) and q.count(".") == prefix.count(".") and last not in exempt:
            if gen == "torch" and last not in rules.TORCH_DRAWS:
                return None
            return gen
    keyword = rules.IMPLICIT_NUMPY_DRAWS.get(q)
    if keyword is not None and keyword not in call.keywords:
        return "numpy"
    keyword = rules.IMPLICIT_NUMPY_DRAW_METHODS.get(last)
    if (keyword is not None and keyword not in call.keywords and call.receiver is not None
            and call.receiver not in names and call.receiver not in kinds):
        return "numpy"
    return None


def resolve(facts: Mapping[int, CodeFacts], shared: Iterable[int]) -> Effects:
    """Walk the cells in notebook order (shared cells first: they run before every step)."""
    shared = list(shared)
    names = aliases(facts.values())
    out = Effects()
    kinds: dict[str, str] = {}  # name -> stateful kind of its last binding
    changes: dict[str, Definition] = {}  # the last definition of each function
    generators: set[str] = set()
    order = [(i, -1) for i in shared] + [(i, i) for i in sorted(facts) if i not in shared]
    for i, position in order:
        f = facts[i]
        for d in f.definitions:
            out.definitions.setdefault(d.name, []).append((position, d))
            changes[d.name] = d
            if d.generator:
                generators.add(d.name)
            else:
                generators.discard(d.name)
        for name, source in f.assigned_from:
            kind = _kind(source, names, generators)
            if kind is None:
                kinds.pop(name, None)
            else:
                kinds[name] = kind
        extra: dict[str, int] = {}
        for call in f.calls:
            if call.callee.startswith("%"):
                _magic_setting(call, i, out)
                continue
            q = qualify(call.callee, names)
            head = call.callee.split(".")[0]
            last = q.rsplit(".", 1)[-1]
            if head in changes and "." not in call.callee:
                # a function of the notebook: judged by its own body
                d = changes[head]
                for slot, root in call.args:
                    if any(slot == pos or slot == pname for pos, pname in d.changes):
                        extra.setdefault(root, call.line)
            elif last not in rules.READ_ONLY_FUNCTIONS:
                for _slot, root in call.args:
                    kind = kinds.get(root)
                    if kind is None or (kind == "estimator" and last in rules.ESTIMATOR_READ_ONLY_FUNCTIONS):
                        continue
                    extra.setdefault(root, call.line)
            if _restored(q, call.within, names):
                continue  # a `with` block puts it back when it ends: later cells never had it
            if q in rules.SEED_CALLS:
                out.settings.append(Setting(i, call.line, q, None if call.nested else call.statement,
                                            seed=rules.SEED_CALLS[q]))
            elif _matches(q, rules.SETTING_CALLS):
                out.settings.append(Setting(i, call.line, q, None if call.nested else call.statement))
            else:
                gen = _draw(call, q, names, kinds)
                if gen is not None:
                    out.draws.append(Draw(i, call.line, gen, call.callee))
        for target, line, statement in f.dotted_assigns:
            q = qualify(target, names)
            if _matches(q, rules.SETTING_ASSIGNS):
                out.settings.append(Setting(i, line, q, statement))
        for root in f.iterates:
            if kinds.get(root) in rules.CONSUMED_BY_ITERATION:
                extra.setdefault(root, f.line_of(root) or 1)
        extra = {n: line for n, line in extra.items() if n not in f.mutates}
        if extra:
            out.mutates[i] = extra
        stuck = {n: kinds[n] for n in (*f.touches, *extra) if kinds.get(n) in rules.UNPASSABLE}
        if stuck:
            out.unpassable[i] = stuck
    out.settings.sort(key=lambda s: (s.cell, s.line))
    return out


def _restored(q: str, within: tuple[str, ...], names: Mapping[str, str]) -> bool:
    """The call ``q`` changes a setting that an enclosing ``with`` block restores."""
    for context in within:
        kinds = rules.RESTORING_CONTEXTS.get(qualify(context, names), ())
        if any(q.startswith(prefix) for prefix in kinds):
            return True
    return False


def _magic_setting(call: CallFact, cell: int, out: Effects) -> None:
    magic = call.callee[1:]
    line = (call.magic_line or "").strip()
    if magic not in rules.SETTING_MAGICS:
        return
    if magic == "env" and not ("=" in line or len(line.split()) > 1):
        return  # `%env` and `%env NAME` only print
    out.settings.append(Setting(cell, call.line, f"%{magic}", None if call.nested else call.statement))
