/**
 * Select a step's cells in its notebook (a click on a node of the pipeline
 * view), and go to the line a step failed on.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { IManifestStep, IStepError } from '../tokens';

/** The current indexes of a step's cells (by cell id, else by index). */
export function stepCellIndexes(
  panel: NotebookPanel,
  step: IManifestStep
): number[] {
  const model = panel.content.model;
  if (!model) {
    return [];
  }
  const indexOfId = new Map<string, number>();
  for (let i = 0; i < model.cells.length; i++) {
    indexOfId.set(model.cells.get(i).id, i);
  }
  const out = new Set<number>();
  for (const cell of step.cells) {
    const index = (cell.id ? indexOfId.get(cell.id) : undefined) ?? cell.index;
    if (index >= 0 && index < model.cells.length) {
      out.add(index);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Select every cell of `step`: the first becomes active and scrolls into view.
 * Returns how many cells were selected.
 */
export function selectStepCells(
  panel: NotebookPanel,
  step: IManifestStep
): number {
  const notebook = panel.content;
  const indexes = stepCellIndexes(panel, step);
  if (indexes.length === 0) {
    return 0;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = indexes[0];
  for (const index of indexes) {
    notebook.select(notebook.widgets[index]);
  }
  void notebook.scrollToCell(notebook.widgets[indexes[0]], 'start');
  return indexes.length;
}

/**
 * Make the failing cell active and put the cursor on the failing line (the
 * error's `line`, 1-based in the source cell) when the server knows it.
 */
export function goToError(panel: NotebookPanel, error: IStepError): boolean {
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    return false;
  }
  let index = -1;
  if (error.cell_id) {
    for (let i = 0; i < model.cells.length; i++) {
      if (model.cells.get(i).id === error.cell_id) {
        index = i;
        break;
      }
    }
  }
  if (index < 0 && error.cell !== null) {
    index = error.cell - 1;
  }
  if (index < 0 || index >= notebook.widgets.length) {
    return false;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  const cell = notebook.widgets[index];
  void notebook.scrollToCell(cell, 'center');
  if (typeof error.line === 'number' && error.line > 0 && cell.editor) {
    const lines = cell.model.sharedModel.getSource().split('\n').length;
    cell.editor.setCursorPosition({
      line: Math.min(error.line, lines) - 1,
      column: 0
    });
  }
  return true;
}
