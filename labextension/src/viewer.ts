/**
 * A read-only view of a step's output notebook when the contents API cannot
 * open it (run folders live under the hidden `.cellpipe/`): the JSON comes from
 * `GET runs/<id>/steps/<step>/notebook` and is shown in a detached notebook
 * widget with no kernel and no file behind it.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { Notebook, NotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { notebookIcon } from '@jupyterlab/ui-components';
import { find } from '@lumino/algorithm';

import { requestAPI } from './request';

import { JSONValue } from './tokens';

export interface IViewerServices {
  rendermime: IRenderMimeRegistry;
  editorServices: IEditorServices;
  contentFactory: NotebookPanel.IContentFactory;
}

/** The id of the viewer of `path` (one viewer per output notebook). */
export function viewerId(path: string): string {
  return `cellpipe-output-${path}`;
}

export function outputViewer(
  services: IViewerServices,
  path: string,
  content: JSONValue
): MainAreaWidget<Notebook> {
  const model = new NotebookModel();
  model.fromJSON(content as any);
  const notebook = new Notebook({
    rendermime: services.rendermime,
    contentFactory: services.contentFactory,
    mimeTypeService: services.editorServices.mimeTypeService
  });
  notebook.model = model;
  notebook.addClass('cp-OutputNotebook');
  const widget = new MainAreaWidget({ content: notebook });
  widget.id = viewerId(path);
  widget.title.label = path.replace(/^.*\//, '') + ' (run output)';
  widget.title.caption = `${path} (read-only copy of a step's output notebook)`;
  widget.title.icon = notebookIcon;
  widget.title.closable = true;
  widget.disposed.connect(() => model.dispose());
  return widget;
}

/** What opening an output notebook needs from the application. */
export interface IOutputOpener {
  app: JupyterFrontEnd;
  services: IViewerServices | null;
  onError: (text: string) => void;
}

/**
 * Open a step's output notebook: through the docmanager when the contents API
 * can see it, else (run folders live under the hidden `.cellpipe/`) as a
 * read-only copy fetched from the server extension. A copy already open is
 * brought to the front.
 */
export async function openOutputNotebook(
  opener: IOutputOpener,
  runId: string,
  step: string,
  path: string
): Promise<void> {
  const { app, services } = opener;
  try {
    await app.serviceManager.contents.get(path, { content: false });
    await app.commands.execute('docmanager:open', { path });
    return;
  } catch {
    // hidden from the contents API: fall back to the server's copy
  }
  const id = viewerId(path);
  const open = find(app.shell.widgets('main'), w => w.id === id);
  if (open) {
    app.shell.activateById(id);
    return;
  }
  if (!services) {
    opener.onError(`Cannot open ${path}.`);
    return;
  }
  try {
    const answer = await requestAPI<{ path: string; content: JSONValue }>(
      `runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(step)}/notebook`
    );
    const widget = outputViewer(services, answer.path, answer.content);
    app.shell.add(widget, 'main');
    app.shell.activateById(widget.id);
  } catch (error) {
    opener.onError(
      `Cannot open the output notebook of ${step}: ${String(error)}`
    );
  }
}
