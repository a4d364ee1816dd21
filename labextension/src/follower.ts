/**
 * Follow the active notebook: feed it to the model (path, unsaved content,
 * changes), keep the active cell's tags current, and mark each step's cells
 * whenever a new analysis arrives or cells are added, moved or removed.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { CellpipeModel, INotebookSource } from './model';
import { cellTags, clearMarks, markCells } from './notebook';
import { JSONValue } from './tokens';

/**
 * The notebook without outputs: the analyzer reads code and tags only, and
 * outputs (images, tables) would make every analysis request heavy.
 */
export function withoutOutputs(notebook: any): JSONValue {
  const cells = Array.isArray(notebook.cells) ? notebook.cells : [];
  return {
    ...notebook,
    cells: cells.map((cell: any) =>
      cell.cell_type === 'code'
        ? { ...cell, outputs: [], execution_count: null }
        : cell
    )
  };
}

/** The notebook as the model sees it. */
export function sourceOf(panel: NotebookPanel): INotebookSource {
  return {
    get path() {
      return panel.context.path;
    },
    toJSON: () => withoutOutputs(panel.model?.toJSON() ?? {}),
    contentChanged: panel.model!.contentChanged,
    save: async () => {
      if (panel.model?.dirty && !panel.context.isDisposed) {
        await panel.context.save();
      }
    }
  };
}

export class NotebookFollower {
  constructor(
    private readonly tracker: INotebookTracker,
    private readonly model: CellpipeModel
  ) {
    model.analysisChanged.connect(this._remark, this);
    tracker.currentChanged.connect((_, nb) => void this.follow(nb), this);
    void this.follow(tracker.currentWidget);
  }

  /** The notebook the panel shows, once it is loaded. */
  get current(): NotebookPanel | null {
    return this._followed;
  }

  async follow(nb: NotebookPanel | null): Promise<void> {
    const old = this._followed;
    if (old) {
      old.content.activeCellChanged.disconnect(this._updateActiveCell, this);
      old.model?.contentChanged.disconnect(this._updateActiveCell, this);
      old.model?.cells.changed.disconnect(this._remark, this);
      clearMarks(old);
    }
    this._followed = null;
    if (!nb) {
      this.model.setSource(null);
      this._updateActiveCell();
      return;
    }
    await nb.context.ready;
    if (this.tracker.currentWidget !== nb || nb.isDisposed || !nb.model) {
      return;
    }
    this._followed = nb;
    nb.content.activeCellChanged.connect(this._updateActiveCell, this);
    nb.model.contentChanged.connect(this._updateActiveCell, this);
    nb.model.cells.changed.connect(this._remark, this);
    this.model.setSource(sourceOf(nb));
    this._updateActiveCell();
  }

  private _updateActiveCell(): void {
    const nb = this._followed;
    if (!nb || nb.content.activeCellIndex < 0) {
      this.model.setActiveCell(null, []);
      return;
    }
    const index = nb.content.activeCellIndex;
    this.model.setActiveCell(index, cellTags(nb, index));
  }

  private _remark(): void {
    if (this._followed) {
      markCells(this._followed, this.model.analysis);
    }
  }

  private _followed: NotebookPanel | null = null;
}
