"""Pure decisions over the store's answers: which steps are cached, skipped or
to run, and why.

The planner touches nothing: what it needs to know (a step's key parts, the
cache entry under a key, a step's last success, whether an entry's objects are
all present) it asks a :class:`Ledger`, which the runner answers from the store
and a test answers from a dict. What it decides is a :class:`Decision` the
runner carries out (restore files, drop dead cache entries, record, submit).
So cache, selection (``--only``/``--from``/``--force``, ``nocache``) and the
skip-downstream rule are testable without a kernel or a disk.

It also decides what a run does when a step changed an input in place that
the analysis took as read-only (:func:`readers_after`, :func:`replan`): the
steps after it that read that input must get the changed value, as in Run All.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cellpipe.core import cachekey
from cellpipe.core.graph import pipeline_deps, select, upstream
from cellpipe.model import TERMINAL_STEP_STATES, Pipeline, Step, StepState

# the states are model.StepState's (one enum for runner, report, store, server and tokens.ts)
PENDING, RUNNING, CACHED, DONE, FAILED, SKIPPED, INTERRUPTED, CHECK_FAILED = (
    StepState.PENDING, StepState.RUNNING, StepState.CACHED, StepState.DONE, StepState.FAILED,
    StepState.SKIPPED, StepState.INTERRUPTED, StepState.CHECK_FAILED,
)
#: a step in one of these states is settled for this run
TERMINAL = TERMINAL_STEP_STATES
#: an upstream step in one of these states leaves nothing to run on
BROKEN = (FAILED, SKIPPED, INTERRUPTED, CHECK_FAILED)

#: a cache entry, as the store answers it: ``outputs`` (variables and files with
#: their object hashes), ``metrics``, ``parts`` (the key parts) and ``run_id``
Entry = dict[str, Any]


class Ledger(Protocol):
    """The questions the planner asks about the world."""

    def parts(self, step: Step) -> dict[str, Any]:
        """The step's cache-key parts (its inputs' hashes: upstream steps are settled)."""
        ...

    def entry(self, key: str) -> Entry | None:
        """The cache entry recorded under ``key``."""
        ...

    def latest(self, step: Step) -> Entry | None:
        """The step's newest successful entry, whatever its key."""
        ...

    def present(self, entry: Entry) -> bool:
        """Whether every object of the entry's outputs is in the store."""
        ...


Action = Literal["run", "reuse", "skip", "fail"]


@dataclass(frozen=True)
class Decision:
    """What to do with one step, and why (the reason the user sees)."""

    action: Action
    reason: str
    key: str | None = None
    parts: dict[str, Any] | None = None
    #: for ``reuse``: the entry whose outputs the step takes
    entry: Entry | None = None
    #: reused from its last success although its key differs (a step left out by ``--only``)
    stale: bool = False
    #: cache keys whose objects are gone: the runner drops them
    forget: tuple[str, ...] = ()
    warning: str | None = None
    error: str | None = None


class Planner:
    """Decides, step by step as their upstream steps settle, what a run does."""

    def __init__(self, pipeline: Pipeline, ledger: Ledger, only: Sequence[str] = (),
                 from_steps: Sequence[str] = (), force: bool = False) -> None:
        self.pipeline = pipeline
        self.ledger = ledger
        self.force = force
        self.order = pipeline.step_names
        self.steps = {s.name: s for s in pipeline.steps}
        self.selected = select(pipeline, list(only), list(from_steps))
        #: the selected steps and every step whose outputs they need
        self.needed = upstream(self.selected, pipeline_deps(pipeline))

    def ready(self, name: str, states: Mapping[str, str]) -> bool:
        """Pending, and every step it depends on is settled."""
        return states[name] == PENDING and all(states[d] in TERMINAL for d in self.steps[name].depends_on)

    def finished(self, states: Mapping[str, str]) -> bool:
        """Nothing is running and nothing more can start."""
        if any(s == RUNNING for s in states.values()):
            return False
        return not any(self.ready(name, states) for name in self.order)

    def decide(self, name: str, states: Mapping[str, str], rebuild: bool = False,
               unusable: str = "") -> Decision:
        """Settle ``name`` (cached, skipped, failed) or say why it must run.

        ``rebuild``: its stored outputs turned out corrupt; it runs, selected or not.
        ``unusable``: why the entry under its key cannot be used (the runner found
        an object corrupt while restoring it).
        """
        step = self.steps[name]
        bad = [d for d in step.depends_on if states[d] in BROKEN]
        if bad:
            if states[bad[0]] == CHECK_FAILED:
                return Decision("skip", f"blocked: a check of upstream step {bad[0]} failed")
            return Decision("skip", f"upstream step {bad[0]} {states[bad[0]]}")
        ledger = self.ledger
        parts = ledger.parts(step)
        key = cachekey.key_of(parts)
        forget: tuple[str, ...] = ()
        hit = None if unusable else ledger.entry(key)
        if hit is not None and not ledger.present(hit):
            hit, forget, unusable = None, (key,), "stored outputs missing"
        selected = name in self.selected
        must_run = rebuild or (selected and (self.force or step.nocache))
        if hit is not None and not must_run:
            return Decision("reuse", "up to date", key, parts, entry=hit)
        if not selected and not rebuild:
            latest = ledger.latest(step)
            if latest is not None and ledger.present(latest):
                why = cachekey.explain(latest["parts"], parts) or "stale"
                return Decision("reuse", f"not selected, stale: {why}", key, parts, entry=latest, stale=True,
                                forget=forget,
                                warning=f"not selected; using its last outputs although it is stale ({why})")
            if name not in self.needed:  # no selected step reads it: nothing is missing
                return Decision("skip", "not selected", key, parts, forget=forget)
            if step.nocache:  # it is never cached: a selected step needs it to run now
                return Decision("run", "nocache", key, parts, forget=forget)
            return Decision("fail", "not selected and never run", key, parts, forget=forget,
                            error=f"step {name} is not selected and has never run; run it first "
                                  f"(cellpipe run --only {name}) or drop --only/--from")
        if must_run:
            reason = "stored output corrupt" if rebuild else "forced" if self.force else "nocache"
        else:
            latest = ledger.latest(step)
            reason = unusable or cachekey.explain(latest["parts"] if latest else None, parts) or "changed"
        return Decision("run", reason, key, parts, forget=forget)


# -- what a run learns: an input changed in place that the analysis did not see ------------------


def readers_after(pipeline: Pipeline, name: str, var: str) -> list[str]:
    """The steps Run All gives the value ``name`` changed in place: they load
    ``var`` from the step ``name`` loaded it from, and come after ``name`` in
    its notebook. None: the change reaches no later step, and is no problem."""
    step = pipeline.step(name)
    producer = next((v.producer for v in step.var_inputs if v.name == var), None)
    if producer is None or not step.cells:
        return []
    first = min(c.index for c in step.cells)
    return [other.name for other in pipeline.steps
            if other.name != name and other.notebook == step.notebook and other.cells
            and min(c.index for c in other.cells) > first
            and any(v.name == var and v.producer == producer for v in other.var_inputs)]


def _what_it_computes(step: Step) -> tuple:
    """What decides a step's result (what it passes on is left out)."""
    return (step.code_hash, step.var_inputs, step.parameters, step.file_inputs, step.imports, step.replayed)


def replan(old: Pipeline, new: Pipeline, states: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """After a run learned a change and the pipeline was compiled again: the
    settled steps that must be decided again (back to pending), and the running
    ones that must run again once they finish. A step counts when what it
    computes from changed, and so does every step downstream of one."""
    before = {s.name: s for s in old.steps}
    changed = {s.name for s in new.steps
               if s.name not in before or _what_it_computes(before[s.name]) != _what_it_computes(s)}
    deps = pipeline_deps(new)
    dependents: dict[str, set[str]] = {}
    for step, ds in deps.items():
        for d in ds:
            dependents.setdefault(d, set()).add(step)
    todo, seen = list(changed), set(changed)
    while todo:
        for child in dependents.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    again = {n for n in seen if states.get(n) in (DONE, CACHED)}
    running = {n for n in seen if states.get(n) == RUNNING}
    return again, running
