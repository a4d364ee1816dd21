/**
 * The panel's actions on the selected cells. Each one only rewrites cell tags
 * (computed by tags.ts) through the cell models, in one undoable transaction.
 */
import { InputDialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { CellpipeModel } from './model';
import {
  applyTagEdits,
  cellsForPlanning,
  cellTags,
  jumpToCell,
  jumpToLine,
  selectedIndices
} from './notebook';
import {
  Dialect,
  dialectOf,
  planEdit,
  Role,
  validateFilePath,
  validateStepName,
  withDependency,
  withFile,
  withoutTag,
  withRole,
  withStep
} from './tags';

/** Ask for a value until it is valid or the user cancels. */
async function promptValid(
  title: string,
  label: string,
  validate: (value: string) => string | null,
  options: { placeholder?: string; items?: string[] } = {}
): Promise<string | null> {
  let error: string | null = null;
  let text = '';
  for (;;) {
    const fullLabel = error ? `${error}\n${label}` : label;
    const result =
      options.items && options.items.length > 0
        ? await InputDialog.getItem({
            title,
            label: fullLabel,
            items: options.items,
            editable: true,
            current: text || options.items[0],
            placeholder: options.placeholder
          })
        : await InputDialog.getText({
            title,
            label: fullLabel,
            text,
            placeholder: options.placeholder
          });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    text = result.value.trim();
    error = validate(text);
    if (!error) {
      return text;
    }
  }
}

export class CellActions {
  constructor(
    private readonly tracker: INotebookTracker,
    private readonly model: CellpipeModel
  ) {}

  get panel(): NotebookPanel | null {
    return this.tracker.currentWidget;
  }

  /** The tag spelling of the current notebook (Kale's or cellpipe's). */
  dialect(): Dialect {
    const panel = this.panel;
    const n = panel?.content.model?.cells.length ?? 0;
    const all: string[][] = [];
    for (let i = 0; panel && i < n; i++) {
      all.push(cellTags(panel, i));
    }
    return dialectOf(all);
  }

  /**
   * Apply a tag edit to the selection, spelled in the notebook's dialect;
   * returns the number of cells changed. The notebook gets the keyboard back
   * (command mode), so `z` undoes the edit.
   */
  edit(fn: (tags: readonly string[], dialect: Dialect) => string[]): number {
    const panel = this.panel;
    if (!panel || !panel.content.model) {
      return 0;
    }
    const selected = selectedIndices(panel);
    const dialect = this.dialect();
    let edits: Map<number, string[]>;
    try {
      edits = planEdit(
        cellsForPlanning(panel, this.model.analysis),
        selected,
        tags => fn(tags, dialect),
        dialect
      );
    } catch (error) {
      this.model.setMessage({ kind: 'error', text: String(error) });
      return 0;
    }
    applyTagEdits(panel, edits);
    this.focusNotebook();
    return edits.size;
  }

  /** Give the keyboard back to the notebook, in command mode. */
  focusNotebook(): void {
    const panel = this.panel;
    if (!panel || panel.isDisposed) {
      return;
    }
    panel.content.mode = 'command';
    panel.content.activate();
  }

  /** The selected cells become step `name` (asked for when not given). */
  async newStep(name?: string): Promise<string | null> {
    const chosen =
      name ??
      (await promptValid(
        'New step from selection',
        'Step name ([a-z_][a-z0-9_-]*):',
        validateStepName,
        { placeholder: 'e.g. train_model' }
      ));
    if (chosen === null) {
      return null;
    }
    const error = validateStepName(chosen);
    if (error) {
      this.model.setMessage({ kind: 'error', text: error });
      return null;
    }
    this.edit((tags, dialect) => withStep(tags, chosen, dialect));
    this.model.selectStep(chosen);
    return chosen;
  }

  /** The selected cells join an existing step. */
  async addToStep(name?: string): Promise<string | null> {
    const steps = this.model.steps.map(s => s.name);
    const chosen =
      name ??
      (await promptValid('Add to step', 'Step:', validateStepName, {
        items: steps
      }));
    if (chosen === null || validateStepName(chosen)) {
      return null;
    }
    this.edit((tags, dialect) => withStep(tags, chosen, dialect));
    return chosen;
  }

  markRole(role: Role): void {
    this.edit((tags, dialect) => withRole(tags, role, dialect));
  }

  /** Declare a file the selected cells' step reads (`in`) or writes (`out`). */
  async declareFile(kind: 'in' | 'out', path?: string): Promise<void> {
    const chosen =
      path ??
      (await promptValid(
        kind === 'in' ? 'Declare an input file' : 'Declare an output file',
        `Path of the file or folder the step ${kind === 'in' ? 'reads' : 'writes'}, relative to the notebook:`,
        validateFilePath,
        { placeholder: 'data/clean.parquet' }
      ));
    if (chosen === null || validateFilePath(chosen)) {
      return;
    }
    this.edit(tags => withFile(tags, kind, chosen));
  }

  /** The selected cells' step runs after another step. */
  async addDependency(name?: string): Promise<void> {
    const steps = this.model.steps.map(s => s.name);
    const chosen =
      name ??
      (await promptValid(
        'Add a dependency',
        'Run after step:',
        validateStepName,
        {
          items: steps
        }
      ));
    if (chosen === null || validateStepName(chosen)) {
      return;
    }
    this.edit((tags, dialect) => withDependency(tags, chosen, dialect));
  }

  removeTag(tag: string): void {
    this.edit(tags => withoutTag(tags, tag));
  }

  /** Select a step: its first cell becomes active and scrolls into view. */
  selectStep(name: string): void {
    this.model.selectStep(name);
    const panel = this.panel;
    const step = this.model.steps.find(s => s.name === name);
    const first = step?.cells[0];
    if (panel && first) {
      jumpToCell(panel, { id: first.id, index: first.index });
      this.focusNotebook();
    }
  }

  /** Jump to a cell of the current notebook. */
  jumpTo(where: { index?: number | null; id?: string | null }): boolean {
    const panel = this.panel;
    const done = panel ? jumpToCell(panel, where) : false;
    if (done) {
      this.focusNotebook();
    }
    return done;
  }

  /**
   * Jump to a line (1-based) of a cell: the cell's editor gets the cursor on
   * that line, in edit mode, scrolled into view.
   */
  async jumpToLine(
    where: { index?: number | null; id?: string | null },
    line: number | null
  ): Promise<boolean> {
    const panel = this.panel;
    if (!panel) {
      return false;
    }
    if (line === null || line < 1) {
      return this.jumpTo(where);
    }
    return jumpToLine(panel, where, line);
  }
}
