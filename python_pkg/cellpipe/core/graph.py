"""The step graph: topological order, cycles, selection and rendering. Pure."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from cellpipe.core.paths import overlaps
from cellpipe.errors import UsageError
from cellpipe.model import Pipeline

Edges = Mapping[str, Sequence[str]]  # step -> the steps it depends on


def find_cycle(order: Sequence[str], deps: Edges) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]``, or None when the graph is a DAG."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {name: WHITE for name in order}
    for start in order:
        if color[start] != WHITE:
            continue
        stack: list[tuple[str, Iterable[str]]] = [(start, iter(deps.get(start, ())))]
        path = [start]
        color[start] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in color:
                    continue
                if color[child] == GREY:
                    cycle = path[path.index(child) :] + [child]
                    # report it in run order: the dependency first
                    return list(reversed(cycle))
                if color[child] == WHITE:
                    color[child] = GREY
                    path.append(child)
                    stack.append((child, iter(deps.get(child, ()))))
                    break
            else:
                color[node] = BLACK
                path.pop()
                stack.pop()
    return None


def topological_order(order: Sequence[str], deps: Edges) -> list[str]:
    """Steps so that each comes after its dependencies; ties keep ``order``.

    Raises ValueError on a cycle (call :func:`find_cycle` to report it).
    """
    rank = {name: i for i, name in enumerate(order)}
    remaining = {name: len([d for d in deps.get(name, ()) if d in rank]) for name in order}
    dependents: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for dep in deps.get(name, ()):
            if dep in rank:
                dependents[dep].append(name)
    ready = [(rank[n], n) for n in order if remaining[n] == 0]
    heapq.heapify(ready)
    result: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        result.append(name)
        for child in dependents[name]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(ready, (rank[child], child))
    if len(result) != len(order):
        raise ValueError("the step graph has a cycle")
    return result


def levels(order: Sequence[str], deps: Edges) -> dict[str, int]:
    """Longest distance from a root: steps on the same level can run in parallel."""
    level: dict[str, int] = {}
    for name in topological_order(order, deps):
        level[name] = 1 + max((level[d] for d in deps.get(name, ()) if d in level), default=-1)
    return level


def downstream(names: Iterable[str], deps: Edges) -> set[str]:
    """``names`` and every step that depends on them, directly or not."""
    dependents: dict[str, list[str]] = {}
    for step, ds in deps.items():
        for d in ds:
            dependents.setdefault(d, []).append(step)
    seen = set(names)
    todo = list(seen)
    while todo:
        for child in dependents.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def upstream(names: Iterable[str], deps: Edges) -> set[str]:
    """``names`` and every step they depend on."""
    seen = set(names)
    todo = list(seen)
    while todo:
        for parent in deps.get(todo.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def pipeline_deps(pipeline: Pipeline) -> dict[str, tuple[str, ...]]:
    return {step.name: step.depends_on for step in pipeline.steps}


def select(pipeline: Pipeline, only: list[str], from_steps: list[str]) -> set[str]:
    """The steps to run: all, ``--only`` these, or ``--from`` these and downstream."""
    names = pipeline.step_names
    for name in [*only, *from_steps]:
        if name not in names:
            raise UsageError(f"unknown step {name!r}; the steps are: {', '.join(names)}")
    if not only and not from_steps:
        return set(names)
    chosen = set(only)
    if from_steps:
        chosen |= downstream(from_steps, pipeline_deps(pipeline))
    return chosen


# -- rendering ---------------------------------------------------------------


def _edge_labels(pipeline: Pipeline) -> dict[tuple[str, str], list[str]]:
    labels: dict[tuple[str, str], list[str]] = {}
    learned = {s.name: dict(s.learned) for s in pipeline.steps}
    for step in pipeline.steps:
        for dep in step.depends_on:
            labels.setdefault((dep, step.name), [])
        for var in step.var_inputs:
            run = learned.get(var.producer, {}).get(var.name)
            label = f"{var.name} (learned from run {run})" if run else var.name
            labels.setdefault((var.producer, step.name), []).append(label)
        for path in step.file_inputs:
            for other in pipeline.steps:
                if other.name != step.name and any(
                    overlaps(path, out) for out in other.file_outputs
                ):
                    labels.setdefault((other.name, step.name), []).append(path)
    return labels


def render_text(pipeline: Pipeline) -> str:
    """One line per step, grouped by level (steps of one level run in parallel)."""
    deps = pipeline_deps(pipeline)
    level = levels(pipeline.step_names, deps)
    labels = _edge_labels(pipeline)
    width = max((len(s.name) for s in pipeline.steps), default=4)
    lines = [f"pipeline {pipeline.name}: {len(pipeline.steps)} steps"]
    current = -1
    for step in sorted(pipeline.steps, key=lambda s: (level[s.name], pipeline.step_names.index(s.name))):
        if level[step.name] != current:
            current = level[step.name]
            lines.append(f"level {current}:")
        cells = ", ".join(str(c.number) for c in step.cells)
        origin = f"{step.notebook} {'cell' if len(step.cells) == 1 else 'cells'} {cells}" if cells else step.notebook
        parents = []
        for dep in step.depends_on:
            what = labels.get((dep, step.name)) or ["after"]
            parents.append(f"{dep} [{', '.join(what)}]")
        arrow = f" <- {'; '.join(parents)}" if parents else ""
        lines.append(f"  {step.name.ljust(width)}  ({origin}){arrow}")
    return "\n".join(lines)


def _mermaid_ids(pipeline: Pipeline) -> dict[str, str]:
    """A mermaid node id per step, by position: ``a-b`` and ``a_b`` must not meet."""
    return {step.name: f"s{i}" for i, step in enumerate(pipeline.steps)}


def _mermaid_text(text: str) -> str:
    """Text for inside a quoted mermaid label (a double quote would end it)."""
    return text.replace('"', "#quot;")


def render_mermaid(pipeline: Pipeline) -> str:
    labels = _edge_labels(pipeline)
    ids = _mermaid_ids(pipeline)
    lines = ["flowchart TD"]
    for step in pipeline.steps:
        lines.append(f'    {ids[step.name]}["{_mermaid_text(step.name)}"]')
    for step in pipeline.steps:
        for dep in step.depends_on:
            what = labels.get((dep, step.name)) or []
            label = f'|"{_mermaid_text(", ".join(what))}"|' if what else ""
            lines.append(f"    {ids[dep]} -->{label} {ids[step.name]}")
    return "\n".join(lines)


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(pipeline: Pipeline) -> str:
    labels = _edge_labels(pipeline)
    lines = [f"digraph {_dot_quote(pipeline.name)} {{", "    rankdir=TB;", "    node [shape=box];"]
    for step in pipeline.steps:
        lines.append(f"    {_dot_quote(step.name)};")
    for step in pipeline.steps:
        for dep in step.depends_on:
            what = labels.get((dep, step.name)) or []
            attr = f" [label={_dot_quote(', '.join(what))}]" if what else ""
            lines.append(f"    {_dot_quote(dep)} -> {_dot_quote(step.name)}{attr};")
    lines.append("}")
    return "\n".join(lines)
