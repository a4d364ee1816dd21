/**
 * A read-only view of a step's output notebook when the contents API cannot
 * open it (run folders live under the hidden `.cellpipe/`): the JSON comes from
 * `GET runs/<id>/steps/<step>/notebook` and is shown in a detached notebook
 * widget with no kernel and no file behind it.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { Notebook, NotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { notebookIcon } from '@jupyterlab/ui-components';

import { JSONValue } from './tokens';

export interface IViewerServices {
  rendermime: IRenderMimeRegistry;
  editorServices: IEditorServices;
  contentFactory: NotebookPanel.IContentFactory;
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
  widget.id = `cellpipe-output-${path}`;
  widget.title.label = path.replace(/^.*\//, '') + ' (run output)';
  widget.title.caption = `${path} (read-only copy of a step's output notebook)`;
  widget.title.icon = notebookIcon;
  widget.title.closable = true;
  widget.disposed.connect(() => model.dispose());
  return widget;
}
