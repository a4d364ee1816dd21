/**
 * The `cellpipe:open-runs` command: opens (or shows) the runs dashboard of the
 * followed notebook's pipeline, refreshed whenever a run started from the
 * panel ends.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellpipeModel } from '../model';
import { CommandIDs } from '../tokens';
import { DashboardModel } from './model';
import { DashboardContent, dashboardWidget, IDashboardHost } from './view';

export function addDashboard(
  app: JupyterFrontEnd,
  options: {
    model: CellpipeModel;
    palette: ICommandPalette | null;
    rendermime: IRenderMimeRegistry | null;
    icon: LabIcon;
    openOutput: IDashboardHost['openOutput'];
  }
): void {
  const { model, palette, rendermime, icon, openOutput } = options;
  let widget: MainAreaWidget<DashboardContent> | null = null;
  model.runs.finished.connect(() => void widget?.content.model.refresh());

  app.commands.addCommand(CommandIDs.openRuns, {
    label: 'cellpipe: Open the runs dashboard',
    caption: 'Every run of the pipeline: sort, filter, compare, plot, trace',
    icon,
    execute: args => {
      const path =
        typeof args.path === 'string' ? args.path : (model.path ?? null);
      if (widget === null || widget.isDisposed) {
        const dash = new DashboardModel(path);
        widget = dashboardWidget(dash, { rendermime, openOutput });
        widget.title.icon = icon;
        widget.disposed.connect(() => {
          widget = null;
        });
        app.shell.add(widget, 'main');
        void dash.refresh();
      } else if (path !== null) {
        widget.content.model.setPath(path);
      } else {
        void widget.content.model.refresh();
      }
      app.shell.activateById(widget.id);
    }
  });
  palette?.addItem({ command: CommandIDs.openRuns, category: 'cellpipe' });
}
