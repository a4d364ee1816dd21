"""Data flow inside one notebook: which step produces each name a step uses.
Pure; part of the compiler (see DESIGN.md §2 for the rules)."""

from __future__ import annotations

import ast
import bisect
from collections.abc import Mapping, Sequence
from dataclasses import replace

from cellpipe.core import analysis
from cellpipe.core.analysis import KERNEL_NAMES, CodeFacts, Definition
from cellpipe.core.compiler import effects
from cellpipe.core.compiler.diagnostics import Collector
from cellpipe.core.compiler.structure import NotebookDraft, StepDraft
from cellpipe.core.parameters import ParamCode, parse_parameters

#: what runs saw that the analysis did not: notebook -> step -> variable changed in place -> run id
Learned = Mapping[str, Mapping[str, Mapping[str, str]]]


class DataFlow(Collector):
    """Finds producers and consumers (second pass of the compiler)."""

    learned: Learned = {}
    #: the notebook being analyzed: cell -> names it leaves holding a value no other kernel can load
    _unpassable: dict[int, dict[str, str]] = {}

    # -- data flow inside one notebook ----------------------------------------
    def analyze_flow(self, nb: NotebookDraft) -> None:
        path = nb.info.path
        cells = nb.info.cells
        params = {p.name for p in nb.info.parameters}
        eff = effects.resolve(nb.facts, nb.info.shared_cells)
        self._unpassable = eff.unpassable
        self._apply_learned(nb, eff)
        for i, extra in eff.mutates.items():
            old = nb.facts[i]
            nb.facts[i] = replace(old, mutates=old.mutates | set(extra),
                                  lines=tuple(sorted({**extra, **dict(old.lines)}.items())))
        self._check_global_draws(nb, eff)
        shared_binds: set[str] = set()
        shared_modules: set[str] = set()
        star = False
        for i in nb.info.shared_cells:
            sf = nb.facts.get(i, CodeFacts())
            shared_binds |= sf.binds
            shared_modules |= {name for name, _ in sf.imports}
            star = star or sf.star_import
        if nb.info.parameters_cell is not None:  # its other lines run in place, in every step
            in_place = parse_parameters(cells[nb.info.parameters_cell].source).code
            self._check_in_place(nb, in_place, params, shared_binds)
            shared_binds |= {name for stmt in in_place for name in stmt.binds} - params
        # shared cells run in every step: what they read when they run, every step
        # needs; what a shared function reads, only the steps that call it
        eager_reads, shared_uses = _shared_uses([cells[i].source for i in nb.info.shared_cells])

        # who touches (binds or changes) each name, in notebook order
        touches: dict[str, list[tuple[int, str]]] = {}
        import_only: dict[str, bool] = {}
        for i in sorted(nb.cell_step):
            f = nb.facts.get(i)
            if f is None:
                continue
            imports = dict(f.imports)
            for name in f.touches:
                for step in (nb.cell_step[i], *nb.also.get(i, ())):
                    touches.setdefault(name, []).append((i, step))
            for name in f.binds:
                import_only[name] = import_only.get(name, True) and name in imports
        positions = {name: [p for p, _ in lst] for name, lst in touches.items()}
        module_names = {n for n, only in import_only.items() if only}
        import_stmt: dict[tuple[int, str], str] = {}
        for i, f in nb.facts.items():
            for name, stmt in f.imports:
                import_stmt[(i, name)] = stmt
        warned_imports: set[str] = set()
        steps_by_name = {s.name: s for s in nb.steps}

        for draft in nb.steps:
            bound: set[str] = set()
            calls = set(eager_reads)  # the shared names this step uses, and what shared code reads as it runs
            for i in draft.code_cells:
                f = nb.facts.get(i)
                if f is not None:
                    calls.update(n for n in (*f.reads, *f.late_reads) if n in shared_uses)
            draft.params.update(_reachable(calls, shared_uses) & params)
            late: dict[str, int] = {}
            step_star = star
            own: dict[str, int] = {}  # the step's last cell that bound or changed each name
            changed_unbound: set[str] = set()  # names changed in place before the step binds them
            need = (nb, draft, params, shared_binds, touches, positions, module_names, import_stmt,
                    warned_imports, steps_by_name)
            self._replay_settings(draft, eff, nb, need)
            for i in draft.code_cells:
                f = nb.facts.get(i)
                if f is None:
                    continue
                step_star = step_star or f.star_import
                # a function the cell calls reads its free names when it runs: here
                for name in _called_reads((*f.reads, *f.late_reads), i, eff.definitions):
                    late.setdefault(name, i)
                for name in f.reads:
                    if name not in bound:
                        self._need(nb, draft, name, i, params, shared_binds, touches, positions, module_names,
                                   import_stmt, warned_imports, steps_by_name, star=step_star)
                    elif name in own and name not in module_names:
                        self._check_reentry(nb, draft, name, own[name], i, touches)
                for name in f.late_reads:
                    late.setdefault(name, i)
                changed_unbound |= f.mutates - bound
                bound |= f.binds
                own.update(dict.fromkeys(f.touches, i))
                changed_shared = (f.binds & (params | shared_binds)) | (
                    f.mutates & (params | shared_binds) - shared_modules - module_names
                )
                for name in sorted(changed_shared):
                    if name not in module_names:
                        kind = "parameter" if name in params else "shared name"
                        self.warn("CP150", f"step '{draft.name}' changes the {kind} `{name}`; later steps see the "
                                  f"{kind}'s own value, not this change", path, i, line=f.line_of(name),
                                  fix=f"give the changed value a new name (e.g. `{name}_2`)", cell_id=cells[i].id)
            for name, i in late.items():
                if name not in bound:
                    self._need(nb, draft, name, i, params, shared_binds, touches, positions, module_names,
                               import_stmt, warned_imports, steps_by_name, star=step_star, late=True)
            # inputs the step changes in place, as the analysis sees it (function bodies included)
            draft.mutated_inputs = changed_unbound & set(draft.var_inputs)
            _copy_package_imports(draft, import_stmt)

    def _check_in_place(self, nb: NotebookDraft, in_place: list[ParamCode], params: set[str],
                        shared_binds: set[str]) -> None:
        """Every step runs the parameters cell's lines: a name they read must come
        from the cell itself, a shared cell, or a cell every step has (CP124)."""
        index = nb.info.parameters_cell
        assert index is not None
        cell = nb.info.cells[index]
        known = set(params) | shared_binds | set(KERNEL_NAMES)
        owners: dict[str, set[str]] = {}
        for i in sorted(nb.cell_step):
            if i < index:
                f = nb.facts.get(i)
                for name in f.binds if f is not None else ():
                    owners.setdefault(name, set()).update((nb.cell_step[i], *nb.also.get(i, ())))
        every = {d.name for d in nb.steps}
        for stmt in in_place:
            for name in stmt.reads:
                if name in known or (name in owners and owners[name] >= every):
                    continue
                where = (f"; only step '{sorted(owners[name])[0]}' defines it" if name in owners else "")
                self.error("CP124", f"parameters cell: line {stmt.line} uses `{name}`, which the cell does not "
                           f"define before it{where}: every step runs the parameters cell", nb.info.path, index,
                           line=stmt.line, cell_id=cell.id,
                           fix=f"define `{name}` in the parameters cell (e.g. import it there) or in a cell "
                               "tagged `imports`")
            known |= set(stmt.binds)

    def _apply_learned(self, nb: NotebookDraft, eff: effects.Effects) -> None:
        """A step an earlier run saw change a variable in place changes it, at the
        first of its cells that reads it."""
        for draft in nb.steps:
            for var, run in sorted(self.learned.get(nb.info.path, {}).get(draft.name, {}).items()):
                cells = [i for i in draft.code_cells if i in nb.facts]
                if not cells:
                    continue
                cell = next((i for i in cells if var in nb.facts[i].reads or var in nb.facts[i].late_reads),
                            cells[0])
                eff.mutates.setdefault(cell, {}).setdefault(var, 1)
                draft.learned[var] = run

    def _replay_settings(self, draft: StepDraft, eff: effects.Effects, nb: NotebookDraft, need: tuple) -> None:
        """Settings made by earlier steps' cells run again at the start of this step."""
        first = min(draft.code_cells, default=None)
        if first is None:
            return
        for s in eff.settings:
            if s.cell >= first or s.cell not in nb.cell_step or nb.cell_step[s.cell] == draft.name:
                continue
            if s.statement is None:
                key = ("CP160", nb.info.path, s.cell, s.line)
                if key not in self.reported:
                    self.reported.add(key)
                    self.warn("CP160", f"cell {s.cell + 1} changes a process-wide setting (`{s.what}`) inside a "
                              f"block; each step runs in its own kernel and cellpipe carries only top-level "
                              f"settings to later steps, so step '{draft.name}' and the steps after it run "
                              "without it", nb.info.path, s.cell, line=s.line,
                              fix="make the setting a top-level statement of its cell, or move it into a cell "
                              "tagged `imports` so that every step runs it")
                continue
            draft.replayed.append((s.cell, s.statement))
            # it runs after the step that made the setting, as Run All does (a folder
            # `os.chdir` enters, a module `sys.path` points at, may be that step's work)
            # (not when that step comes back after this one starts: that would be a cycle)
            maker = next(d for d in nb.steps if d.name == nb.cell_step[s.cell])
            if all(c < first for c in maker.code_cells) and (maker.name, s.cell) not in draft.after:
                draft.after.append((maker.name, s.cell))
            for name in analysis.analyze(s.statement).reads:
                self._need(need[0], need[1], name, s.cell + 1, *need[2:], star=True, late=True)  # type: ignore[misc]

    def _check_global_draws(self, nb: NotebookDraft, eff: effects.Effects) -> None:
        """Drawing from a seeded global generator in a step after another step drew from it."""
        events = sorted([(s.cell, s.line, 0, s) for s in eff.settings if s.seed] +
                        [(d.cell, d.line, 1, d) for d in eff.draws], key=lambda e: e[:3])
        seeded: dict[str, tuple[int, str | None]] = {}
        drawers: dict[str, list[tuple[int, str]]] = {}
        warned: set[tuple[str, str]] = set()
        shared = set(nb.info.shared_cells)
        for cell, line, _, event in events:
            step = nb.cell_step.get(cell)
            if isinstance(event, effects.Setting):
                assert event.seed is not None  # only seeding settings are events
                seeded[event.seed] = (cell, step)
                drawers[event.seed] = []
                continue
            gen = event.generator
            if step is None or cell in shared or gen not in seeded:
                continue
            others = [(c, s) for c, s in drawers[gen] if s != step]
            if others and (step, gen) not in warned:
                warned.add((step, gen))
                seed_cell, _ = seeded[gen]
                other_cell, other = others[-1]
                module = {"numpy": "np.random", "random": "random"}.get(gen, gen)
                self.warn("CP161", f"step '{step}' draws from {gen}'s global random generator (`{event.what}`), "
                          f"seeded in cell {seed_cell + 1}, after step '{other}' drew from it (cell "
                          f"{other_cell + 1}); each step runs in its own kernel from the seed, so the numbers "
                          f"here differ from Run All's", nb.info.path, cell, line=line,
                          fix=f"create a generator once and pass it on (`rng = np.random.default_rng(0)` in an "
                          f"earlier step, then `rng.…(...)` here; cellpipe passes `rng` from step to step in "
                          f"order), or seed again in this step before it draws (`{module}.seed(...)`)")
            drawers[gen].append((cell, step))

    def _check_reentry(self, nb: NotebookDraft, draft: StepDraft, name: str, own: int, cell: int,
                       touches: dict[str, list[tuple[int, str]]]) -> None:
        """A re-entered step reads ``name`` it set itself, but another step set or
        changed it in between: top to bottom, the notebook would see that value."""
        between = [(p, s) for p, s in touches.get(name, []) if own < p < cell and s != draft.name]
        if not between or (draft.name, name) in self.reentry_reported:
            return
        self.reentry_reported.add((draft.name, name))
        pos, other = between[-1]
        rebinds = name in nb.facts[pos].binds
        message = (f"step '{draft.name}' uses `{name}` from its own cell {own + 1}, but step '{other}' "
                   f"{'sets it again' if rebinds else 'may change it in place'} in cell {pos + 1}, in between: "
                   "the compiled step would not see that change")
        fix = (f"give the cells of '{draft.name}' from cell {cell + 1} a step name of their own, "
               f"or rename `{name}` in one of the two steps")
        line = _first_line(nb.info.cells[cell].source, name)
        if rebinds:
            self.error("CP202", message, nb.info.path, cell, fix=fix, line=line)
        else:
            self.warn("CP203", message, nb.info.path, cell, fix=fix, line=line)

    def _unpassable_input(self, nb: NotebookDraft, draft: StepDraft, name: str, kind: str, cell: int,
                          pos: int, producer: str) -> None:
        """``name`` (a generator, an open file) made by another step cannot reach this one."""
        key = ("CP204", nb.info.path, draft.name, name)
        if key in self.reported:
            return
        self.reported.add(key)
        what = {"generator": "a generator", "open file": "an open file"}.get(kind, f"a {kind}")
        remake = ("open it again in this step (`with open(...) as fh:`), or read what you need into a "
                  "variable in step '" + producer + "'") if kind == "open file" else (
                  f"create `{name}` in this step, or turn it into a list in step '{producer}' "
                  f"(`{name} = list(...)`) if it need not be lazy")
        self.error("CP204", f"step '{draft.name}' uses `{name}`, {what} made by step '{producer}' (cell "
                   f"{pos + 1}); each step runs in its own kernel, and {what} cannot be saved and loaded "
                   "in another one", nb.info.path, cell, line=_first_line(nb.info.cells[cell].source, name),
                   fix=f"{remake}, or put cell {cell + 1} into step '{producer}'",
                   cell_id=nb.info.cells[cell].id)

    def _need(self, nb, draft: StepDraft, name: str, cell: int, params, shared_binds, touches, positions,
              module_names, import_stmt, warned_imports, steps_by_name, star: bool, late: bool = False) -> None:
        path = nb.info.path
        if name in params:
            draft.params.add(name)
            return
        if name in shared_binds or name in KERNEL_NAMES or name in draft.var_inputs:
            return
        producer: tuple[int, str] | None = None
        lst = touches.get(name, [])
        idx = bisect.bisect_left(positions.get(name, []), cell)
        for pos, step in reversed(lst[:idx]):
            if step != draft.name:
                producer = (pos, step)
                break
        if producer is None:
            if star or late:
                return
            later = [(p, s) for p, s in lst if p > cell and s != draft.name]
            hint = ""
            skipped = [i for i in nb.skipped if i < cell and name in analysis.analyze(nb.info.cells[i].source).binds]
            if skipped:
                hint = f" (it is set in cell {skipped[-1] + 1}, which is tagged `skip`)"
                later = []
            elif later:
                hint = f" (it is first set later, in step '{later[0][1]}', cell {later[0][0] + 1})"
            self.error("CP201", f"step '{draft.name}' uses `{name}`, which no earlier step or shared cell defines{hint}",
                       path, cell, line=_first_line(nb.info.cells[cell].source, name),
                       fix="define it in an earlier step or in a `parameters`, `imports` or `functions` cell"
                       + (", or move that cell above this one" if later else "")
                       + (", or remove the `skip` tag from that cell" if skipped else ""),
                       cell_id=nb.info.cells[cell].id)
            return
        pos, step = producer
        if name in module_names:
            # the producer may only have used the module (`plt.figure()`); copy the import that bound it
            origin = next(((p, s) for p, s in reversed(lst[:idx]) if (p, name) in import_stmt), producer)
            stmt = import_stmt.get((origin[0], name))
            if stmt and stmt not in draft.imports:
                draft.imports.append(stmt)
                draft.import_cells[stmt] = origin[0]
            if name not in warned_imports:
                warned_imports.add(name)
                self.warn("CP210", f"`{name}` is imported in step '{origin[1]}' and used by step '{draft.name}'; "
                          "cellpipe repeats the import in each step that uses it", path, origin[0],
                          fix="move the import into a cell tagged `imports`, so that every step shares it")
            return
        kind = self._unpassable.get(pos, {}).get(name)
        if kind is not None:
            self._unpassable_input(nb, draft, name, kind, cell, pos, step)
        draft.var_inputs[name] = step
        steps_by_name[step].outputs_vars.setdefault(name, set()).add(draft.name)
        # a model fitted with a formula evaluates it again when it is loaded: what the
        # formula uses (a notebook function, `np`) must be here before it loads
        facts = nb.facts.get(pos)
        for carried in dict(facts.carries).get(name, ()) if facts is not None else ():
            if carried != name and carried not in draft.var_inputs:
                self._need(nb, draft, carried, cell, params, shared_binds, touches, positions, module_names,
                           import_stmt, warned_imports, steps_by_name, star=True, late=True)


def _shared_uses(sources: Sequence[str]) -> tuple[set[str], dict[str, set[str]]]:
    """What shared cells read as they run, and for each name they define, the
    names its definition reads (a function's body included), statement by statement."""
    eager: set[str] = set()
    uses: dict[str, set[str]] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            try:
                tree = ast.parse(analysis.to_python(source))
            except SyntaxError:  # reported as CP140 with the cell's facts
                continue
        for stmt in tree.body:
            facts = analysis.analyze(ast.unparse(stmt))
            eager.update(facts.reads)
            for name in facts.binds:
                uses.setdefault(name, set()).update(facts.reads, facts.late_reads)
    return eager, uses


def _called_reads(names: Sequence[str], cell: int, definitions: dict[str, list[tuple[int, Definition]]]) -> list[str]:
    """The free names of the notebook's functions among ``names``, and of the
    functions those read, transitively: the definition seen is the last one at
    or before ``cell`` (shared ones count as first)."""
    out: list[str] = []
    seen: set[str] = set()
    todo = [n for n in names if n in definitions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        defs = definitions.get(name)
        if not defs:
            continue
        idx = bisect.bisect_right([p for p, _ in defs], cell)
        if idx == 0:
            continue
        for free in defs[idx - 1][1].reads:
            if free not in seen:
                out.append(free)
                if free in definitions:
                    todo.append(free)
    return list(dict.fromkeys(out))


def _reachable(names: set[str], uses: dict[str, set[str]]) -> set[str]:
    """``names`` and every name their shared definitions read, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(uses.get(name, ()))
    return seen


def _first_line(source: str, name: str) -> int | None:
    import re

    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)")
    for n, line in enumerate(source.splitlines(), 1):
        if pattern.search(line):
            return n
    return None


def _packages(stmt: str) -> set[str]:
    """The top-level packages an import statement imports from (none for a relative import)."""
    try:
        tree = ast.parse(stmt)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def _copy_package_imports(draft: StepDraft, import_stmt: dict[tuple[int, str], str]) -> None:
    """Import side effects within a package: in Run All, ``from statsmodels import graphics``
    followed by ``graphics.gofplots.qqplot(...)`` works because an earlier cell's
    ``import statsmodels.api`` imported the submodule. A step that imports from a package
    gets the earlier cells' imports of that package too (copied, in notebook order), so the
    package is in the state Run All left it in."""
    cells = set(draft.code_cells)
    if not cells:
        return
    last = max(cells)
    wanted = set().union(*(_packages(stmt) for (i, _), stmt in import_stmt.items() if i in cells))
    if not wanted:
        return
    for (i, _), stmt in sorted(import_stmt.items()):
        if i < last and i not in cells and stmt not in draft.imports and _packages(stmt) & wanted:
            draft.imports.append(stmt)
            draft.import_cells[stmt] = i
