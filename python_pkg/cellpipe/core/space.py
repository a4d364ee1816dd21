"""Search spaces, objectives and constraints of a sweep, and what its trials
add up to (best trial, Pareto front). Pure: no store, no kernels, no optuna.

A space is written the same way on the command line (``-p NAME=SPACE``) and in
a parameters cell's annotation (``n_estimators: int = 100  # sweep: 50..500 log``):

=====================  ==========================================================
``a,b,c``              these values (typed against the parameter, as ``-p`` is)
``lo..hi``             every whole number from lo to hi (a grid), or a uniform range
                       for a float parameter or float bounds (random and Bayesian)
``lo..hi log``         the same, sampled on a log scale
``v``                  one value: the parameter is fixed for the whole sweep
=====================  ==========================================================
"""

from __future__ import annotations

import itertools
import math
import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cellpipe.core.overrides import typed_value
from cellpipe.core.parameters import describe_types, fits, schema_types
from cellpipe.errors import UsageError

#: more grid points than this is a mistake, not a sweep
MAX_GRID = 10_000

_RANGE = re.compile(r"^\s*(?P<lo>[^\s.][^\s]*?)\s*\.\.\s*(?P<hi>[^\s]+)\s*(?P<log>log)?\s*$")


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: a list of values, or a numeric range."""

    name: str
    kind: Literal["choice", "int", "float"]
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    #: the space as the user wrote it (for messages and records)
    text: str = ""

    @property
    def fixed(self) -> bool:
        return self.kind == "choice" and len(self.choices) == 1

    def grid_values(self) -> list[Any]:
        """Every value of a grid over this dimension."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise UsageError(
            f"parameter {self.name!r}: the float range {self.text!r} has no grid. Fix: list the values "
            f"(-p {self.name}=0.1,0.5,1.0), or sample it with --random N or --optimize METRIC:max")

    def sample(self, rng: random.Random) -> Any:
        """One value drawn at random (uniform, or log-uniform for ``log``)."""
        if self.kind == "choice":
            return rng.choice(self.choices)
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.kind == "int":
            return min(max(int(round(value)), int(self.low)), int(self.high))
        return value

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"name": self.name, "kind": "choice", "choices": list(self.choices)}
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "log": self.log}


def _number(name: str, text: str, space: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"parameter {name!r}: {text!r} in the range {space!r} is not a number. "
            f"Fix: write a range as LOW..HIGH (e.g. {name}=3..8, or {name}=0.01..10 log)") from None
    if not math.isfinite(value):
        raise UsageError(f"parameter {name!r}: the range {space!r} must have finite bounds")
    return value


def parse_space(name: str, text: str, schema: Mapping[str, Any] | None = None) -> Dimension:
    """Read one parameter's space (see the module's table). ``schema`` is the
    parameter's type as its parameters cell declares it: values are typed and
    checked against it, and a range of whole numbers over a float parameter is
    a float range. Raises :class:`UsageError` naming the parameter and the fix."""
    schema = dict(schema or {})
    text = str(text).strip()
    if not text:
        raise UsageError(f"parameter {name!r} has an empty space. Fix: write values (a,b,c) or a range (lo..hi)")
    match = _RANGE.match(text)
    if match:
        lo, hi = _number(name, match["lo"], text), _number(name, match["hi"], text)
        log = bool(match["log"])
        if lo > hi:
            raise UsageError(f"parameter {name!r}: the range {text!r} is empty (low > high). "
                             f"Fix: write it as {name}={match['hi']}..{match['lo']}")
        if log and lo <= 0:
            raise UsageError(f"parameter {name!r}: a log range needs a low bound above 0, got {text!r}. "
                             "Fix: start the range above 0, or drop `log`")
        types = schema_types(schema)
        whole = isinstance(lo, int) and isinstance(hi, int)
        if types and "integer" not in types and "number" in types:
            whole = False  # a float parameter: 1..10 is a float range
        elif types and "integer" not in types and "number" not in types:
            raise UsageError(f"parameter {name!r} expects {describe_types(schema)}, not the numeric range "
                             f"{text!r}. Fix: list its values (a,b,c)")
        elif types and "number" not in types and not whole:
            raise UsageError(f"parameter {name!r} expects {describe_types(schema)}: the range {text!r} needs "
                             f"whole-number bounds (e.g. {int(lo)}..{int(hi)})")
        return Dimension(name, "int" if whole else "float", low=lo, high=hi, log=log, text=text)
    values = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            raise UsageError(f"parameter {name!r}: an empty value in {text!r}. Fix: write values as a,b,c")
        value = typed_value(item, schema) if schema else _plain(item)
        if schema and not fits(value, schema):
            raise UsageError(f"parameter {name!r} expects {describe_types(schema)}, got {item!r} in {text!r}")
        values.append(value)
    return Dimension(name, "choice", choices=tuple(dict.fromkeys(values)) if _hashable(values) else tuple(values),
                     text=text)


def _plain(item: str) -> Any:
    from cellpipe.core.overrides import parse_value

    return parse_value(item)


def _hashable(values: Sequence[Any]) -> bool:
    try:
        for value in values:
            hash(value)
    except TypeError:
        return False
    return True


def grid(dims: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Every combination of the dimensions' values, the first dimension slowest."""
    axes = [dim.grid_values() for dim in dims]
    total = math.prod(len(axis) for axis in axes)
    if total > MAX_GRID:
        raise UsageError(f"the grid has {total} parameter sets (more than {MAX_GRID}). Fix: narrow the ranges, "
                         "or sample it with --random N or --optimize METRIC:max --trials N")
    return [dict(zip([d.name for d in dims], combo, strict=True)) for combo in itertools.product(*axes)]


def sample(dims: Sequence[Dimension], n: int, seed: int | None = None) -> list[dict[str, Any]]:
    """``n`` parameter sets drawn at random (reproducible with ``seed``); a set
    drawn twice is drawn again while other sets remain."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(n):
        for _attempt in range(20):
            point = {d.name: d.sample(rng) for d in dims}
            if repr(point) not in seen:
                break
        seen.add(repr(point))
        out.append(point)
    return out


# -- objectives and constraints ---------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """A metric to maximize or minimize."""

    metric: str
    direction: Literal["maximize", "minimize"]

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


_DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


def parse_objective(text: str) -> Objective:
    """``METRIC:max`` or ``METRIC:min`` (``maximize``/``minimize`` too)."""
    metric, sep, direction = text.strip().rpartition(":")
    if not sep or not metric or direction.lower() not in _DIRECTIONS:
        raise UsageError(f"--optimize {text!r}: write the objective as METRIC:max or METRIC:min "
                         "(e.g. --optimize forest_roc_auc:max)")
    return Objective(metric.strip(), _DIRECTIONS[direction.lower()])  # type: ignore[arg-type]


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}
_CONSTRAINT = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.]*)\s*(?P<op><=|>=|<|>)\s*(?P<value>[^\s]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``METRIC < VALUE`` (or ``<=``, ``>``, ``>=``): a trial that breaks it is infeasible."""

    metric: str
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    def violation(self, measured: float) -> float:
        """How far ``measured`` is outside the constraint; 0 or less when it holds
        (optuna's ``constraints_func`` convention)."""
        if self.op in ("<", "<="):
            gap = measured - self.value
        else:
            gap = self.value - measured
        if self.holds(measured):
            return min(gap, 0.0)
        return max(gap, 1e-12)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_constraint(text: str) -> Constraint:
    """``latency_ms<100``, ``forest_accuracy>=0.9``."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise UsageError(f"--where {text!r}: write a constraint as METRIC<VALUE (or <=, >, >=), "
                         "e.g. --where latency_ms<100")
    try:
        value = float(match["value"])
    except ValueError:
        raise UsageError(f"--where {text!r}: {match['value']!r} is not a number") from None
    return Constraint(match["metric"], match["op"], value)


# -- what the trials add up to --------------------------------------------------------


def dominates(a: Sequence[float], b: Sequence[float], objectives: Sequence[Objective]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective and better on one."""
    strictly = False
    for x, y, obj in zip(a, b, objectives, strict=True):
        if obj.better(y, x):
            return False
        if obj.better(x, y):
            strictly = True
    return strictly


def pareto_front(points: Sequence[Sequence[float]], objectives: Sequence[Objective]) -> list[int]:
    """The indexes of the points no other point dominates, in input order."""
    return [i for i, p in enumerate(points)
            if not any(dominates(q, p, objectives) for j, q in enumerate(points) if j != i)]


def rank(values: Sequence[Sequence[float] | None], feasible: Sequence[bool],
         objectives: Sequence[Objective]) -> list[int]:
    """Trial indexes best first: feasible trials with values, sorted by the first
    objective (then the next), then infeasible ones, then trials without values."""
    def key(i: int) -> tuple[Any, ...]:
        vals = values[i]
        if vals is None:
            return (2, ())
        signed = tuple(-v if o.direction == "maximize" else v for v, o in zip(vals, objectives, strict=True))
        return (0 if feasible[i] else 1, signed)

    return sorted(range(len(values)), key=key)
