"""Files a step reads or writes by a literal path without declaring it: a hint in
``validate`` (the run tracks such files anyway, see DESIGN.md §1 ``in:``/``out:``).
Pure; part of the compiler."""

from __future__ import annotations

from cellpipe.core.compiler.diagnostics import Collector
from cellpipe.core.compiler.structure import NotebookDraft, _join
from cellpipe.core.filerefs import file_refs
from cellpipe.core.paths import overlaps

#: the hint's code (a warning: it never fails validate)
UNDECLARED_FILE = "CP250"


def _covered(path: str, declared: list[tuple[str, int]]) -> bool:
    """Whether ``path`` is a declared path or lies inside a declared folder."""
    return any(overlaps(path, d) and path.startswith(d.rstrip("/")) for d, _ in declared)


class FileHints(Collector):
    """Points out literal paths passed to known readers and writers that no tag declares."""

    def hint_files(self, nb: NotebookDraft) -> None:
        folder = nb.info.path.rsplit("/", 1)[0] if "/" in nb.info.path else ""
        for draft in nb.steps:
            seen: set[tuple[str, str]] = set()
            for i in draft.code_cells:
                for ref in file_refs(nb.info.cells[i].source):
                    if ref.path.startswith(("/", "~")):
                        continue  # outside the project: tracked at run time when the step names it
                    path = _join(folder, ref.path)
                    if path.startswith("../") or (ref.mode, path) in seen:
                        continue
                    seen.add((ref.mode, path))
                    if ref.mode == "read" and not _covered(path, draft.inputs) and not _covered(path, draft.outputs):
                        tag, what = "in", "reads"
                    elif ref.mode == "write" and not _covered(path, draft.outputs):
                        tag, what = "out", "writes"
                    else:
                        continue
                    self.warn(
                        UNDECLARED_FILE,
                        f"step '{draft.name}' {what} '{ref.path}' ({ref.call}, line {ref.line}) without an "
                        f"`{tag}:` tag; cellpipe tracks it at run time, but the DAG does not show it",
                        nb.info.path, i, line=ref.line,
                        fix=f"tag the cell `{tag}:{ref.path}`"
                        + (" so that the step that writes it runs first" if tag == "in"
                           else " so that steps reading it run after this one"),
                    )
