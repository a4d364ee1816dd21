/**
 * Opening the pipeline view: the `cellpipe:open-pipeline` command (command
 * palette), a button on every notebook's toolbar, and the panel's button;
 * the view is restored after a page reload.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  WidgetTracker
} from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon, ToolbarButton } from '@jupyterlab/ui-components';

import { CellpipeModel } from '../model';
import { CommandIDs } from '../tokens';
import { IPipelineHost, PipelineView, pipelineWidget } from './widget';

export interface IPipelineViewOptions extends IPipelineHost {
  model: CellpipeModel;
  tracker: INotebookTracker;
  palette: ICommandPalette | null;
  restorer: ILayoutRestorer | null;
  icon: LabIcon;
}

/** Register the pipeline view: command, palette item, notebook toolbar button. */
export function addPipelineView(
  app: JupyterFrontEnd,
  options: IPipelineViewOptions
): void {
  const { model, tracker, palette, restorer, icon } = options;
  const views = new WidgetTracker<MainAreaWidget<PipelineView>>({
    namespace: 'cellpipe-pipeline'
  });

  app.commands.addCommand(CommandIDs.openPipeline, {
    label: 'cellpipe: Open the pipeline view',
    caption: 'The pipeline of the current notebook as a live graph',
    icon,
    execute: () => {
      const open = views.currentWidget;
      if (open && !open.isDisposed) {
        app.shell.activateById(open.id);
        return open;
      }
      const widget = pipelineWidget(model, {
        actions: options.actions,
        openFile: options.openFile,
        openOutput: options.openOutput
      });
      widget.title.icon = icon;
      const notebook = tracker.currentWidget;
      // Beside the notebook, so a click on a step shows its cells.
      app.shell.add(
        widget,
        'main',
        notebook && notebook.isAttached
          ? { mode: 'split-right', ref: notebook.id }
          : undefined
      );
      void views.add(widget);
      app.shell.activateById(widget.id);
      return widget;
    }
  });
  palette?.addItem({ command: CommandIDs.openPipeline, category: 'cellpipe' });
  if (restorer) {
    void restorer.restore(views, {
      command: CommandIDs.openPipeline,
      name: () => 'pipeline'
    });
  }

  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (panel: NotebookPanel) => {
      const button = new ToolbarButton({
        className: 'cp-open-pipeline-button',
        icon,
        tooltip: 'Open the pipeline view (cellpipe)',
        onClick: () => {
          app.shell.activateById(panel.id);
          void app.commands.execute(CommandIDs.openPipeline);
        }
      });
      panel.toolbar.insertItem(10, 'cellpipe-pipeline', button);
      return button;
    }
  });
}
