import { Signal } from '@lumino/signaling';

import { CellpipeModel, INotebookSource } from '../model';
import { postJSON } from '../request';
import { IAnalyzeResponse } from '../tokens';

jest.mock('../request', () => ({
  requestAPI: jest.fn(),
  postJSON: jest.fn()
}));

const mockedPost = postJSON as jest.MockedFunction<typeof postJSON>;

class FakeNotebook implements INotebookSource {
  path = 'nb/demo.ipynb';
  saved = 0;
  content: any = { cells: [], metadata: {} };
  toJSON() {
    return this.content;
  }
  readonly contentChanged = new Signal<this, void>(this);
  save = async () => {
    this.saved += 1;
  };
}

const analysis: IAnalyzeResponse = {
  path: 'nb/demo.ipynb',
  ok: true,
  diagnostics: [],
  steps: {},
  pipeline: null
};

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

beforeEach(() => {
  mockedPost.mockReset();
  mockedPost.mockResolvedValue(analysis);
});

describe('export', () => {
  it('saves, posts the kind and says where the file went', async () => {
    const model = new CellpipeModel();
    const notebook = new FakeNotebook();
    model.setSource(notebook);
    await flush();
    mockedPost.mockResolvedValueOnce({
      path: 'nb/build/demo.kfp.yaml',
      kind: 'kfp',
      steps: 3,
      parameters: ['n'],
      notes: []
    });
    const result = await model.exportTo('kfp');
    expect(notebook.saved).toBe(1);
    expect(mockedPost).toHaveBeenLastCalledWith('export', {
      path: 'nb/demo.ipynb',
      kind: 'kfp'
    });
    expect(result?.path).toBe('nb/build/demo.kfp.yaml');
    expect(model.message).toEqual({
      kind: 'info',
      text: 'Exported 3 step(s) for Kubeflow Pipelines to nb/build/demo.kfp.yaml.'
    });
    expect(model.busy).toBeNull();
    model.dispose();
  });

  it('shows the notes and the server error', async () => {
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockResolvedValueOnce({
      path: 'nb/build/demo.argo.yaml',
      kind: 'argo',
      steps: 1,
      parameters: [],
      notes: ['upload data/raw.csv']
    });
    await model.exportTo('argo', 'nb/build/demo.argo.yaml');
    expect(mockedPost).toHaveBeenLastCalledWith('export', {
      path: 'nb/demo.ipynb',
      kind: 'argo',
      output: 'nb/build/demo.argo.yaml'
    });
    expect(model.message?.text).toBe(
      'Exported 1 step(s) for Argo Workflows to nb/build/demo.argo.yaml. Note: upload data/raw.csv'
    );
    mockedPost.mockRejectedValueOnce(
      new Error(
        "this export needs the `kfp` package. Fix: pip install 'cellpipe[kfp]'"
      )
    );
    expect(await model.exportTo('kfp')).toBeNull();
    expect(model.message).toEqual({
      kind: 'error',
      text: "Export failed: this export needs the `kfp` package. Fix: pip install 'cellpipe[kfp]'"
    });
    model.dispose();
  });
});
