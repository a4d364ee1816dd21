"""Why a step may not give the same result twice: unseeded randomness, the
clock, thread order. Pure: read from the step's code (its shared cells, the
settings replayed for it and its own cells), for ``cellpipe repro``'s report.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cellpipe.core import analysis, rules
from cellpipe.core.compiler import effects
from cellpipe.model import Pipeline, Step

#: constructors of random generators: unseeded when called without arguments
GENERATORS = frozenset({
    "numpy.random.default_rng", "numpy.random.RandomState", "numpy.random.Generator", "random.Random",
    "torch.Generator",
})
#: calls that read the clock or the system's entropy
CLOCK_CALLS = frozenset({
    "time.time", "time.time_ns", "time.perf_counter", "time.monotonic", "time.process_time",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "pandas.Timestamp.now", "pandas.Timestamp.today", "pandas.Timestamp.utcnow", "numpy.datetime64",
    "uuid.uuid1", "uuid.uuid4", "os.urandom", "secrets.token_hex", "secrets.token_bytes", "secrets.randbelow",
})
#: calls that run work in threads or processes, whose order may change the result
PARALLEL_CALLS = frozenset({
    "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.as_completed", "multiprocessing.Pool", "multiprocessing.pool.ThreadPool",
    "threading.Thread", "joblib.Parallel", "dask.compute",
})


@dataclass(frozen=True)
class Cause:
    """One likely source of a difference between two runs of a step."""

    kind: str  # "unseeded randomness", "time", "thread order"
    what: str  # the call as written
    notebook: str
    cell: int  # 1-based
    line: int
    fix: str

    def describe(self) -> str:
        return f"{self.kind}: `{self.what}` ({self.notebook} cell {self.cell}, line {self.line}); fix: {self.fix}"


def _qualified_calls(source: str, names: dict[str, str]) -> list[tuple[str, str, ast.Call]]:
    """(qualified name, name as written, node) of every call in ``source``."""
    try:
        tree = analysis.parse_code(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            written = analysis.dotted_name(node.func)
            if written:
                out.append((effects.qualify(written, names), written, node))
    return out


def _n_jobs(node: ast.Call) -> bool:
    """``n_jobs=-1`` or more than one job: work split over threads or processes."""
    for kw in node.keywords:
        if kw.arg == "n_jobs" and isinstance(kw.value, (ast.Constant, ast.UnaryOp)):
            try:
                value = ast.literal_eval(kw.value)
            except ValueError:
                return True
            return isinstance(value, int) and (value < 0 or value > 1)
        if kw.arg == "n_jobs":
            return True
    return False


def likely_causes(pipeline: Pipeline, step: Step) -> list[Cause]:
    """What in ``step``'s code can make two runs of it differ, in code order."""
    nb = pipeline.notebook(step.notebook)
    own = [ref.index for ref in step.cells if nb.cells[ref.index].cell_type == "code"]
    shared = [i for i in nb.shared_cells if nb.cells[i].cell_type == "code"]
    facts = {i: analysis.analyze(nb.cells[i].source) for i in (*shared, *own)}
    names = effects.aliases(facts.values())
    eff = effects.resolve(facts, shared)
    seeded = {s.seed for s in eff.settings if s.seed and s.cell in shared}
    for _, statement in step.replayed:
        for q, _w, _n in _qualified_calls(statement, names):
            if q in rules.SEED_CALLS:
                seeded.add(rules.SEED_CALLS[q])
    causes: list[Cause] = []
    events = sorted([(s.cell, s.line, 0, s) for s in eff.settings if s.seed and s.cell in own] +
                    [(d.cell, d.line, 1, d) for d in eff.draws if d.cell in own], key=lambda e: e[:3])
    for cell, line, _, event in events:
        if isinstance(event, effects.Setting):
            seeded.add(event.seed or "")
        elif event.generator not in seeded:
            module = {"numpy": "np.random", "random": "random"}.get(event.generator, event.generator)
            causes.append(Cause("unseeded randomness", event.what, nb.path, cell + 1, line,
                                f"seed it (`{module}.seed(0)` at the start of the step) or draw from a seeded "
                                "generator (`rng = np.random.default_rng(0)`)"))
    for i in own:
        for q, written, node in _qualified_calls(nb.cells[i].source, names):
            line = getattr(node, "lineno", 1)
            if q in GENERATORS and not node.args and not any(k.arg in ("seed", "x") for k in node.keywords):
                causes.append(Cause("unseeded randomness", f"{written}()", nb.path, i + 1, line,
                                    f"give it a seed: `{written}(0)`"))
            elif q in CLOCK_CALLS:
                causes.append(Cause("time", written, nb.path, i + 1, line,
                                    "pass the time in as a parameter, or keep it out of the outputs compared"))
            elif q in PARALLEL_CALLS or _n_jobs(node):
                causes.append(Cause("thread order", written, nb.path, i + 1, line,
                                    "run it with n_jobs=1, or make the result independent of the order "
                                    "(sort before combining)"))
    causes.sort(key=lambda c: (c.cell, c.line))
    return causes

