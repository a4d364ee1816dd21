/**
 * Glue between the panel and a live notebook widget: read the selection, write
 * tags through the shared model, jump to a cell, mark each step's cells.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { planMarks } from './marks';
import { ICellTags } from './tags';
import { IAnalyzeResponse, IManifestStep } from './tokens';

/** The tags in a cell model's metadata (always a fresh array). */
export function cellTags(panel: NotebookPanel, index: number): string[] {
  const cell = panel.content.model?.cells.get(index);
  const tags = cell?.getMetadata('tags');
  return Array.isArray(tags) ? tags.map(String) : [];
}

/** Indices of the selected cells, the active one included, in order. */
export function selectedIndices(panel: NotebookPanel): number[] {
  const notebook = panel.content;
  const out: number[] = [];
  notebook.widgets.forEach((cell, index) => {
    if (notebook.isSelectedOrActive(cell)) {
      out.push(index);
    }
  });
  return out;
}

/** For each cell of the manifest's steps, the step it belongs to. */
function membership(
  panel: NotebookPanel,
  analysis: IAnalyzeResponse | null
): Map<number, IManifestStep> {
  const byIndex = new Map<number, IManifestStep>();
  const model = panel.content.model;
  if (!model || !analysis?.pipeline) {
    return byIndex;
  }
  const indexOfId = new Map<string, number>();
  for (let i = 0; i < model.cells.length; i++) {
    indexOfId.set(model.cells.get(i).id, i);
  }
  for (const step of analysis.pipeline.steps) {
    if (!sameNotebook(step.notebook, panel.context.path)) {
      continue;
    }
    for (const cell of step.cells) {
      const byId = cell.id ? indexOfId.get(cell.id) : undefined;
      const index = byId ?? cell.index ?? -1;
      if (index >= 0 && index < model.cells.length) {
        byIndex.set(index, step);
      }
    }
  }
  return byIndex;
}

/** The cells' tags and their step as the analyzer last saw them. */
export function cellsForPlanning(
  panel: NotebookPanel,
  analysis: IAnalyzeResponse | null
): ICellTags[] {
  const steps = membership(panel, analysis);
  const n = panel.content.model?.cells.length ?? 0;
  const out: ICellTags[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ tags: cellTags(panel, i), step: steps.get(i)?.name ?? null });
  }
  return out;
}

/**
 * Write new tag lists through the cells' shared models: the same metadata
 * JupyterLab's tag editor shows. JupyterLab writes metadata in non-undoable
 * transactions; wrapping the whole edit in one undoable notebook transaction
 * puts it on the notebook's undo stack as a single step, so "Undo Cell
 * Operation" (`z` in command mode) reverts it, on every cell it touched.
 */
export function applyTagEdits(
  panel: NotebookPanel,
  edits: Map<number, string[]>
): void {
  const model = panel.content.model;
  if (!model || edits.size === 0) {
    return;
  }
  model.sharedModel.transact(() => {
    for (const [index, tags] of edits) {
      if (index < 0 || index >= model.cells.length) {
        continue;
      }
      const cell = model.cells.get(index).sharedModel;
      if (tags.length > 0) {
        cell.setMetadata('tags', tags);
      } else {
        cell.deleteMetadata('tags');
      }
    }
  }, true);
}

/** Whether a notebook path from the server names this notebook. */
export function sameNotebook(serverPath: string | null, path: string): boolean {
  if (!serverPath) {
    return true;
  }
  const a = serverPath.replace(/^\.\//, '');
  return a === path || path.endsWith('/' + a) || a.endsWith('/' + path);
}

/** The index of a cell given by id (preferred) or index; -1 when neither is there. */
export function findCell(
  panel: NotebookPanel,
  where: { index?: number | null; id?: string | null }
): number {
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return -1;
  }
  let index = -1;
  if (where.id) {
    for (let i = 0; i < model.cells.length; i++) {
      if (model.cells.get(i).id === where.id) {
        index = i;
        break;
      }
    }
  }
  if (index < 0 && typeof where.index === 'number') {
    index = where.index;
  }
  return index >= 0 && index < notebook.widgets.length ? index : -1;
}

/** Make a cell active and scroll it into view. */
export function jumpToCell(
  panel: NotebookPanel,
  where: { index?: number | null; id?: string | null }
): boolean {
  const notebook = panel.content;
  const index = findCell(panel, where);
  if (index < 0) {
    return false;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  void notebook.scrollToCell(notebook.widgets[index], 'start');
  return true;
}

/**
 * Put the cursor on `line` (1-based) of a cell's editor, in edit mode, with the
 * line scrolled into view: where a traceback says the error is.
 */
export async function jumpToLine(
  panel: NotebookPanel,
  where: { index?: number | null; id?: string | null },
  line: number
): Promise<boolean> {
  const notebook = panel.content;
  const index = findCell(panel, where);
  if (index < 0) {
    return false;
  }
  const cell = notebook.widgets[index];
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  await notebook.scrollToCell(cell, 'center');
  await cell.ready;
  const editor = cell.editor;
  if (!editor) {
    return false;
  }
  const last = Math.max(0, editor.lineCount - 1);
  const position = { line: Math.min(line - 1, last), column: 0 };
  notebook.mode = 'edit';
  editor.setCursorPosition(position);
  editor.revealPosition(position);
  editor.focus();
  return true;
}

const MARK_CLASS = 'cp-step-cell';
const ROLE_CLASS = 'cp-role-cell';

/**
 * Mark every cell of a step with the step's colour and name, and every
 * imports / functions / parameters / skip cell with its role: classes, CSS
 * variables and data attributes on the cell node (CSS draws the border and
 * label). Only cells whose mark changes are touched.
 */
export function markCells(
  panel: NotebookPanel,
  analysis: IAnalyzeResponse | null
): void {
  const steps = membership(panel, analysis);
  const names = (analysis?.pipeline?.steps ?? []).map(s => s.name);
  const n = panel.content.widgets.length;
  const cells = [];
  for (let i = 0; i < n; i++) {
    cells.push({
      tags: analysis ? cellTags(panel, i) : [],
      step: steps.get(i)?.name ?? null
    });
  }
  const marks = planMarks(cells, names);
  panel.content.widgets.forEach((cell, index) => {
    const node = cell.node;
    const mark = marks[index];
    const name = mark.step ?? '';
    const role = mark.role ?? '';
    if (
      (node.dataset.cpStep ?? '') === name &&
      (node.dataset.cpRole ?? '') === role &&
      node.classList.contains('cp-step-first') === mark.first &&
      node.style.getPropertyValue('--cp-step-color') === mark.colour
    ) {
      return;
    }
    if (mark.step !== null) {
      node.classList.add(MARK_CLASS);
      node.classList.toggle('cp-step-first', mark.first);
      node.dataset.cpStep = name;
      node.style.setProperty('--cp-step-color', mark.colour);
      node.style.setProperty('--cp-step-text', mark.text);
    } else {
      node.classList.remove(MARK_CLASS, 'cp-step-first');
      delete node.dataset.cpStep;
      node.style.removeProperty('--cp-step-color');
      node.style.removeProperty('--cp-step-text');
    }
    if (mark.role !== null) {
      node.classList.add(ROLE_CLASS);
      node.dataset.cpRole = role;
    } else {
      node.classList.remove(ROLE_CLASS);
      delete node.dataset.cpRole;
    }
  });
}

/** Remove every mark (the panel stops following this notebook). */
export function clearMarks(panel: NotebookPanel): void {
  markCells(panel, null);
}
