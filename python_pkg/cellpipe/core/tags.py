"""The tag grammar: a cell's ``metadata.tags`` -> a typed :class:`CellTags`.

This is the only module that knows tag spellings: cellpipe's own, Kale's and
papermill's. Everything downstream works with :class:`CellTags`.

=====================  ====================================================
tag                    meaning
=====================  ====================================================
``step:NAME``          the cell starts (or re-enters) step NAME
``block:NAME``         Kale's spelling of ``step:NAME``
``step:`` / ``block:`` empty: the cell merges into the step above
``after:NAME``         explicit dependency on step NAME
``prev:NAME``          Kale's spelling of ``after:NAME``
``parameters``         papermill's parameters cell
``pipeline-parameters``  Kale's spelling of ``parameters``
``metrics``            the cell's scalar values are recorded as metrics
``pipeline-metrics``   Kale's spelling of ``metrics``
``check``              the cell's failed asserts and ``cellpipe.check()`` calls are checks
``pipeline-check``     Kale-style spelling of ``check`` (also ``pipeline-checks``)
``imports``            shared code prepended to every step
``functions``          shared code prepended to every step
``skip``               never part of the pipeline
``in:PATH``            the step reads this file or folder
``out:PATH``           the step writes this file or folder
``nocache``            the step always runs
``timeout:SECONDS``    the step fails when it runs longer than this
``retry:N``            a failed step runs again, in a fresh kernel, up to N times
``limit:``, ``image:``, ``annotation:``, ``label:``  export hints (Kale)
=====================  ====================================================
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

STEP_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]*$")

#: tag spelling -> canonical role
ROLE_TAGS: dict[str, str] = {
    "parameters": "parameters",
    "pipeline-parameters": "parameters",
    "metrics": "metrics",
    "pipeline-metrics": "metrics",
    "check": "check",
    "pipeline-check": "check",
    "pipeline-checks": "check",
    "imports": "imports",
    "functions": "functions",
    "skip": "skip",
}
FLAG_TAGS = {"nocache"}
#: tag prefix -> canonical kind
PREFIX_TAGS: dict[str, str] = {
    "step": "step",
    "block": "step",
    "after": "after",
    "prev": "after",
    "in": "in",
    "out": "out",
}
HINT_PREFIXES = ("limit", "image", "annotation", "label")
#: run controls: kept with the step's hints (the runner reads them; they are not part of its cache key)
RUN_PREFIXES = ("timeout", "retry")

#: Tags other tools write that cellpipe knowingly ignores.
FOREIGN_TAGS = {
    "injected-parameters",  # papermill's output notebooks (handled as skip)
    "hide-input",
    "hide-output",
    "hide-cell",
    "remove-input",
    "remove-output",
    "remove-cell",
    "raises-exception",
    "full-width",
    "margin",
    "thebe-init",
    "hide_input",
    "remove_cell",
    "nbval-ignore-output",
    "nbval-skip",
    "active-ipynb",
}

_ALL_SPELLINGS = (
    sorted(ROLE_TAGS)
    + sorted(FLAG_TAGS)
    + [f"{p}:" for p in sorted(PREFIX_TAGS)]
    + [f"{p}:" for p in HINT_PREFIXES]
    + [f"{p}:" for p in RUN_PREFIXES]
)
_KNOWN_PREFIXES = set(PREFIX_TAGS) | set(HINT_PREFIXES) | set(RUN_PREFIXES)


@dataclass(frozen=True)
class TagProblem:
    """A tag that could not be understood; ``fix`` says what to write instead."""

    tag: str
    message: str
    fix: str


@dataclass(frozen=True)
class CellTags:
    """What a cell's tags say, independent of how they were spelled."""

    step: str | None = None  # "" means "merge into the step above"
    #: further steps the cell also belongs to (Kale's several ``block:`` tags on one cell)
    also_steps: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset()  # parameters, metrics, imports, functions, skip
    nocache: bool = False
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    hints: tuple[tuple[str, str], ...] = ()  # (kind, value), e.g. ("image", "python:3.11")
    problems: tuple[TagProblem, ...] = ()
    injected_parameters: bool = False

    @property
    def role(self) -> str | None:
        """The cell's structural role, if any (shared, parameters or skipped)."""
        for role in ("skip", "parameters", "imports", "functions"):
            if role in self.roles:
                return role
        return None


def suggest_step_name(name: str) -> str:
    """A valid step name close to ``name`` (``Train Model`` -> ``train_model``,
    ``Étape 1`` -> ``etape_1``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", ascii_name.strip().lower()).strip("_-")
    if not cleaned:
        return "step"
    if not re.match(r"[a-z_]", cleaned[0]):
        cleaned = "_" + cleaned
    return cleaned


def closest_tag(tag: str) -> str | None:
    """The known tag spelling closest to ``tag``, or None when nothing is close.

    A suggested ``step:``/``after:`` tag carries a valid step name, so the
    suggestion can be written as it is (``setp:Train`` -> ``step:train``).
    """
    if ":" in tag:
        prefix, _, value = tag.partition(":")
        match = difflib.get_close_matches(
            prefix.strip().lower(), sorted(_KNOWN_PREFIXES), n=1, cutoff=0.5
        )
        if not match:
            return None
        value = value.strip()
        if PREFIX_TAGS.get(match[0]) in ("step", "after") and value and not STEP_NAME_RE.match(value):
            value = suggest_step_name(value)
        return f"{match[0]}:{value}"
    match = difflib.get_close_matches(
        tag.lower(), sorted(ROLE_TAGS) + sorted(FLAG_TAGS), n=1, cutoff=0.75
    )
    return match[0] if match else None


def _clean_path(value: str) -> str:
    return value.strip()


#: the longest file or folder name file systems take (bytes, in UTF-8)
NAME_MAX = 255


def path_problem(path: str) -> str | None:
    """Why no file system can hold ``path`` (a NUL character, a name part over
    255 bytes), or None."""
    if "\x00" in path:
        return "holds a NUL character"
    for part in path.replace("\\", "/").split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > NAME_MAX:
            return f"has a name part {size} bytes long ({part[:20]}…); file systems allow {NAME_MAX}"
    return None


def run_control_problem(prefix: str, value: str) -> tuple[str, str] | None:
    """Why ``timeout:VALUE`` / ``retry:VALUE`` is not a valid tag (message, fix), or None."""
    try:
        number = float(value) if prefix == "timeout" else int(value)
    except ValueError:
        number = -1
    if prefix == "timeout" and not (0 < number < float("inf")):
        return (f"tag 'timeout:{value}' does not give a number of seconds",
                "write 'timeout:600' for a limit of ten minutes")
    if prefix == "retry" and not 0 <= number <= 100:
        return (f"tag 'retry:{value}' does not give a number of attempts",
                "write 'retry:2' to run a failed step up to two more times")
    return None


def parse_tags(tags: Any) -> CellTags:
    """Parse one cell's ``metadata.tags`` list.

    Unknown tags with a ``prefix:`` and plain tags close to a known one are
    reported as problems (with the closest spelling); other plain tags belong to
    other tools and are ignored.
    """
    if not isinstance(tags, (list, tuple)):
        if tags in (None, ""):
            return CellTags()
        return CellTags(
            problems=(
                TagProblem(
                    str(tags),
                    "metadata.tags is not a list",
                    'write the tags as a JSON list, e.g. "tags": ["step:train"]',
                ),
            )
        )

    step: str | None = None
    also: list[str] = []
    after: list[str] = []
    roles: set[str] = set()
    nocache = False
    inputs: list[str] = []
    outputs: list[str] = []
    hints: list[tuple[str, str]] = []
    problems: list[TagProblem] = []
    injected = False

    for raw in tags:
        if not isinstance(raw, str):
            problems.append(
                TagProblem(str(raw), f"tag {raw!r} is not a string", "remove it or quote it")
            )
            continue
        tag = raw.strip()
        if not tag:
            continue
        if tag in ROLE_TAGS:
            roles.add(ROLE_TAGS[tag])
            continue
        if tag in FLAG_TAGS:
            nocache = True
            continue
        if tag == "injected-parameters":
            injected = True
            continue
        if tag in FOREIGN_TAGS:
            continue
        if ":" in tag:
            prefix, _, value = tag.partition(":")
            value = value.strip()
            kind = PREFIX_TAGS.get(prefix)
            if kind == "step":
                if value and not STEP_NAME_RE.match(value):
                    problems.append(
                        TagProblem(
                            tag,
                            f"bad step name {value!r} in tag {tag!r}: a step name is lowercase "
                            "letters, digits, '_' and '-', starting with a letter or '_'",
                            f"write '{prefix}:{suggest_step_name(value)}'",
                        )
                    )
                    continue
                if step and value and value != step:
                    # Kale: a cell with several block tags belongs to each of those steps
                    if value not in also:
                        also.append(value)
                    continue
                step = value if (step is None or value) else step
            elif kind == "after":
                if not value or not STEP_NAME_RE.match(value):
                    problems.append(
                        TagProblem(
                            tag,
                            f"tag {tag!r} does not name a valid step",
                            f"write '{prefix}:{suggest_step_name(value or 'step_name')}'",
                        )
                    )
                    continue
                if value not in after:
                    after.append(value)
            elif kind in ("in", "out"):
                path = _clean_path(value)
                if not path:
                    problems.append(
                        TagProblem(
                            tag,
                            f"tag {tag!r} names no file",
                            f"write '{prefix}:data/file.csv' with the path relative to the notebook",
                        )
                    )
                    continue
                problem = path_problem(path)
                if problem:
                    problems.append(
                        TagProblem(tag, f"the path of tag '{prefix}:' {problem}",
                                   "write a shorter path, relative to the notebook")
                    )
                    continue
                (inputs if kind == "in" else outputs).append(path)
            elif prefix in HINT_PREFIXES:
                hints.append((prefix, value))
            elif prefix in RUN_PREFIXES:
                bad = run_control_problem(prefix, value)
                if bad:
                    problems.append(TagProblem(tag, *bad))
                    continue
                hints.append((prefix, value))
            else:
                suggestion = closest_tag(tag)
                fix = f"did you mean '{suggestion}'?" if suggestion else (
                    "known prefixes are " + ", ".join(f"'{p}:'" for p in sorted(_KNOWN_PREFIXES))
                )
                problems.append(TagProblem(tag, f"unknown tag {tag!r}", fix))
            continue
        suggestion = closest_tag(tag)
        if suggestion is not None:
            problems.append(
                TagProblem(tag, f"unknown tag {tag!r}", f"did you mean '{suggestion}'?")
            )
        # any other plain tag belongs to another tool: ignore it

    return CellTags(
        step=step,
        also_steps=tuple(also),
        after=tuple(after),
        roles=frozenset(roles),
        nocache=nocache,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        hints=tuple(hints),
        problems=tuple(problems),
        injected_parameters=injected,
    )
