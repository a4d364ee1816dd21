import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import iconSvg from '../style/icon.svg';
import { CellActions } from './actions';
import { CellpipeModel, INotebookSource } from './model';
import { cellTags, clearMarks, markCells } from './notebook';
import { CellpipePanel } from './panel';
import { requestAPI } from './request';
import { Role, ROLES } from './tags';
import { CommandIDs, JSONValue, PLUGIN_ID } from './tokens';
import { outputViewer } from './viewer';

export const cellpipeIcon = new LabIcon({
  name: 'cellpipe:icon',
  svgstr: iconSvg
});

/**
 * The notebook without outputs: the analyzer reads code and tags only, and
 * outputs (images, tables) would make every analysis request heavy.
 */
function withoutOutputs(notebook: any): JSONValue {
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
function sourceOf(panel: NotebookPanel): INotebookSource {
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

/**
 * The cellpipe sidebar: follows the active notebook, marks each step's cells,
 * edits tags on the selection, shows live diagnostics, runs and past runs.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Mark notebook cells as pipeline steps, validate, run and compare runs.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    IRenderMimeRegistry,
    IEditorServices,
    NotebookPanel.IContentFactory
  ],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    rendermime: IRenderMimeRegistry | null,
    editorServices: IEditorServices | null,
    contentFactory: NotebookPanel.IContentFactory | null
  ) => {
    const model = new CellpipeModel();
    const actions = new CellActions(tracker, model);
    const openFile = (path: string) =>
      void app.commands.execute('docmanager:open', { path });

    /**
     * Open a step's output notebook: through the docmanager when the contents
     * API can see it, else (run folders live under the hidden `.cellpipe/`)
     * as a read-only copy fetched from the server extension.
     */
    const openOutput = async (runId: string, step: string, path: string) => {
      try {
        await app.serviceManager.contents.get(path, { content: false });
        await app.commands.execute('docmanager:open', { path });
        return;
      } catch {
        // hidden from the contents API: fall back to the server's copy
      }
      if (!rendermime || !editorServices || !contentFactory) {
        model.setMessage({ kind: 'error', text: `Cannot open ${path}.` });
        return;
      }
      try {
        const answer = await requestAPI<{ path: string; content: JSONValue }>(
          `runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(step)}/notebook`
        );
        const widget = outputViewer(
          { rendermime, editorServices, contentFactory },
          answer.path,
          answer.content
        );
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        model.setMessage({
          kind: 'error',
          text: `Cannot open the output notebook of ${step}: ${String(error)}`
        });
      }
    };

    const panel = new CellpipePanel(model, {
      actions,
      openFile,
      openOutput: (runId, step, path) => void openOutput(runId, step, path)
    });
    panel.title.icon = cellpipeIcon;
    panel.title.caption = 'cellpipe: notebook pipeline';
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, 'cellpipe-panel');

    let followed: NotebookPanel | null = null;

    const updateActiveCell = () => {
      const nb = followed;
      if (!nb || nb.content.activeCellIndex < 0) {
        model.setActiveCell(null, []);
        return;
      }
      const index = nb.content.activeCellIndex;
      model.setActiveCell(index, cellTags(nb, index));
    };
    const remark = () => {
      if (followed) {
        markCells(followed, model.analysis);
      }
    };

    const follow = async (nb: NotebookPanel | null) => {
      if (followed) {
        followed.content.activeCellChanged.disconnect(updateActiveCell);
        followed.model?.contentChanged.disconnect(updateActiveCell);
        followed.model?.cells.changed.disconnect(remark);
        clearMarks(followed);
      }
      followed = null;
      if (!nb) {
        model.setSource(null);
        updateActiveCell();
        return;
      }
      await nb.context.ready;
      if (tracker.currentWidget !== nb || nb.isDisposed || !nb.model) {
        return;
      }
      followed = nb;
      nb.content.activeCellChanged.connect(updateActiveCell);
      nb.model.contentChanged.connect(updateActiveCell);
      nb.model.cells.changed.connect(remark);
      model.setSource(sourceOf(nb));
      updateActiveCell();
    };

    model.analysisChanged.connect(remark);
    tracker.currentChanged.connect((_, nb) => void follow(nb));
    void follow(tracker.currentWidget);

    // ------------------------------------------------------------ commands
    const hasNotebook = () => followed !== null;
    const { commands } = app;
    commands.addCommand(CommandIDs.openPanel, {
      label: 'Show the cellpipe panel',
      execute: () => app.shell.activateById(panel.id)
    });
    commands.addCommand(CommandIDs.newStep, {
      label: 'cellpipe: New step from selected cells',
      isEnabled: hasNotebook,
      execute: args => actions.newStep(args.name as string | undefined)
    });
    commands.addCommand(CommandIDs.addToStep, {
      label: 'cellpipe: Add selected cells to a step',
      isEnabled: hasNotebook,
      execute: args => actions.addToStep(args.name as string | undefined)
    });
    commands.addCommand(CommandIDs.markRole, {
      label: args =>
        args.role
          ? `cellpipe: Mark selected cells as ${args.role}`
          : 'cellpipe: Mark selected cells',
      isEnabled: hasNotebook,
      execute: args => actions.markRole(args.role as Role)
    });
    commands.addCommand(CommandIDs.declareFile, {
      label: args =>
        args.kind === 'out'
          ? 'cellpipe: Declare an output file'
          : 'cellpipe: Declare an input file',
      isEnabled: hasNotebook,
      execute: args =>
        actions.declareFile(
          args.kind === 'out' ? 'out' : 'in',
          args.path as string | undefined
        )
    });
    commands.addCommand(CommandIDs.addDependency, {
      label: 'cellpipe: Run the selected step after another step',
      isEnabled: hasNotebook,
      execute: args => actions.addDependency(args.name as string | undefined)
    });
    commands.addCommand(CommandIDs.removeTag, {
      label: 'cellpipe: Remove a tag from the selected cells',
      isEnabled: hasNotebook,
      execute: args => {
        if (typeof args.tag === 'string') {
          actions.removeTag(args.tag);
        }
      }
    });
    commands.addCommand(CommandIDs.validate, {
      label: 'cellpipe: Validate the pipeline',
      isEnabled: hasNotebook,
      execute: () => model.validate()
    });
    commands.addCommand(CommandIDs.compile, {
      label: 'cellpipe: Compile the pipeline',
      isEnabled: hasNotebook,
      execute: () => model.compile()
    });
    commands.addCommand(CommandIDs.run, {
      label: 'cellpipe: Run the pipeline with default parameters',
      isEnabled: hasNotebook,
      execute: () => model.startRun({})
    });

    // The same actions on a cell's context menu.
    const cellSelector = '.jp-Notebook .jp-Cell';
    app.contextMenu.addItem({
      type: 'separator',
      selector: cellSelector,
      rank: 60
    });
    app.contextMenu.addItem({
      command: CommandIDs.newStep,
      selector: cellSelector,
      rank: 61
    });
    app.contextMenu.addItem({
      command: CommandIDs.addToStep,
      selector: cellSelector,
      rank: 62
    });
    app.contextMenu.addItem({
      command: CommandIDs.markRole,
      args: { role: 'skip' },
      selector: cellSelector,
      rank: 63
    });

    if (palette) {
      const category = 'cellpipe';
      for (const command of [
        CommandIDs.openPanel,
        CommandIDs.newStep,
        CommandIDs.addToStep,
        CommandIDs.addDependency,
        CommandIDs.validate,
        CommandIDs.compile,
        CommandIDs.run
      ]) {
        palette.addItem({ command, category });
      }
      for (const role of ROLES) {
        palette.addItem({
          command: CommandIDs.markRole,
          category,
          args: { role }
        });
      }
      palette.addItem({
        command: CommandIDs.declareFile,
        category,
        args: { kind: 'in' }
      });
      palette.addItem({
        command: CommandIDs.declareFile,
        category,
        args: { kind: 'out' }
      });
    }
  }
};

export default plugin;
