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
import { addCommands } from './commands';
import { addDashboard } from './dashboard';
import { addPipelineView } from './dag/plugin';
import { NotebookFollower } from './follower';
import { CellpipeModel } from './model';
import { CellpipePanel, IPanelHost } from './panel';
import { CommandIDs, PLUGIN_ID } from './tokens';
import { openOutputNotebook } from './viewer';

export const cellpipeIcon = new LabIcon({
  name: 'cellpipe:icon',
  svgstr: iconSvg
});

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
    const follower = new NotebookFollower(tracker, model);
    const services =
      rendermime && editorServices && contentFactory
        ? { rendermime, editorServices, contentFactory }
        : null;

    const openOutput = (runId: string, step: string, path: string) =>
      void openOutputNotebook(
        {
          app,
          services,
          onError: text => model.setMessage({ kind: 'error', text })
        },
        runId,
        step,
        path
      );
    const host: IPanelHost = {
      actions,
      openFile: path => void app.commands.execute('docmanager:open', { path }),
      openOutput,
      openRuns: () => void app.commands.execute(CommandIDs.openRuns),
      openPipeline: () => void app.commands.execute(CommandIDs.openPipeline)
    };
    const panel = new CellpipePanel(model, host);
    panel.title.icon = cellpipeIcon;
    panel.title.caption = 'cellpipe: notebook pipeline';
    app.shell.add(panel, 'left', { rank: 650 });
    restorer?.add(panel, 'cellpipe-panel');

    addCommands(app, {
      model,
      actions,
      palette,
      panelId: panel.id,
      hasNotebook: () => follower.current !== null
    });
    addDashboard(app, {
      model,
      palette,
      rendermime,
      icon: cellpipeIcon,
      openOutput
    });
    addPipelineView(app, {
      ...host,
      model,
      tracker,
      palette,
      restorer,
      icon: cellpipeIcon
    });
  }
};

export default plugin;
