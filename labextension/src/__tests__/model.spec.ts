import { Signal } from '@lumino/signaling';

import { CellpipeModel, INotebookSource, parseParameter } from '../model';
import { postJSON, requestAPI } from '../request';
import { IAnalyzeResponse, IRunDetail, IStepRun } from '../tokens';

jest.mock('../request', () => ({
  requestAPI: jest.fn(),
  postJSON: jest.fn()
}));

const mockedPost = postJSON as jest.MockedFunction<typeof postJSON>;
const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;

class FakeNotebook implements INotebookSource {
  constructor(public path = 'nb/demo.ipynb') {}
  content: any = { cells: [], metadata: {} };
  toJSON() {
    return this.content;
  }
  readonly contentChanged = new Signal<this, void>(this);
  edit(): void {
    this.contentChanged.emit();
  }
}

function analysis(overrides: Partial<IAnalyzeResponse> = {}): IAnalyzeResponse {
  return {
    path: 'nb/demo.ipynb',
    ok: true,
    diagnostics: [],
    steps: {},
    pipeline: {
      cellpipe_manifest: 1,
      name: 'demo',
      settings: {},
      notebooks: [
        {
          path: 'nb/demo.ipynb',
          parameters: {
            n: { default: 3, schema: { type: 'integer' } },
            label: { default: 'x', schema: { type: 'string' } }
          },
          parameters_cell: 0,
          shared_cells: [],
          settings: {}
        }
      ],
      steps: [
        {
          name: 'load',
          notebook: 'nb/demo.ipynb',
          notebook_file: 'steps/load.ipynb',
          cells: [{ index: 1, number: 2, id: 'c1', type: 'code' }],
          code_hash: 'h',
          inputs: { variables: [], files: [] },
          outputs: { variables: [{ name: 'df', to: ['train'] }], files: [] },
          changes_inputs: [],
          after: [],
          depends_on: [],
          parameters: ['n'],
          metrics: [],
          imports: [],
          replays_settings: [],
          learned_changes: [],
          nocache: false,
          hints: {}
        }
      ]
    },
    ...overrides
  };
}

function stepRun(step: string, state: IStepRun['state']): IStepRun {
  return {
    step,
    notebook: 'nb/demo.ipynb',
    state,
    started: null,
    finished: null,
    seconds: null,
    error: null,
    output_notebook:
      state === 'done' ? `.cellpipe/runs/r1/${step}.ipynb` : null,
    cached_from: null,
    warnings: []
  };
}

function detail(active: boolean, steps: IStepRun[]): IRunDetail {
  return {
    run: {
      id: 'r1',
      pipeline: 'demo',
      state: active ? 'running' : 'succeeded',
      started: 1700000000,
      finished: active ? null : 1700000005,
      params: {},
      metrics: [],
      git_commit: null,
      notebooks: ['nb/demo.ipynb'],
      error: null
    },
    steps,
    active
  };
}

const flush = () => new Promise(resolve => setTimeout(resolve, 0));

beforeEach(() => {
  jest.useRealTimers();
  mockedPost.mockReset();
  mockedRequest.mockReset();
  mockedRequest.mockImplementation(async (endPoint?: string) => {
    if (endPoint?.startsWith('runs?')) {
      return { runs: [] } as any;
    }
    if (endPoint?.startsWith('status?')) {
      return { steps: [] } as any;
    }
    if (endPoint?.startsWith('runs/active?')) {
      return { run: null } as any;
    }
    throw new Error(`unexpected GET ${endPoint}`);
  });
});

describe('following a notebook', () => {
  it('analyzes the unsaved notebook as soon as it is followed', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    const nb = new FakeNotebook();
    nb.content = { cells: [{ cell_type: 'code', source: 'x = 1' }] };

    model.setSource(nb);
    await flush();

    expect(mockedPost).toHaveBeenCalledWith('analyze', {
      path: 'nb/demo.ipynb',
      content: nb.content
    });
    expect(model.steps.map(s => s.name)).toEqual(['load']);
    expect(model.analyzing).toBe(false);
    model.dispose();
  });

  it('debounces edits into one analysis', async () => {
    jest.useFakeTimers();
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel({ debounceMs: 400 });
    const nb = new FakeNotebook();
    model.setSource(nb);
    mockedPost.mockClear();

    nb.edit();
    jest.advanceTimersByTime(200);
    nb.edit();
    jest.advanceTimersByTime(399);
    expect(mockedPost).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(mockedPost).toHaveBeenCalledTimes(1);
    model.dispose();
  });

  it('drops an answer that arrives after a newer request', async () => {
    let resolveFirst: (value: IAnalyzeResponse) => void = () => undefined;
    mockedPost
      .mockImplementationOnce(
        () => new Promise<any>(resolve => (resolveFirst = resolve))
      )
      .mockResolvedValueOnce(analysis({ diagnostics: [] }));
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    const second = model.analyze();
    await second;
    resolveFirst(
      analysis({
        diagnostics: [
          {
            severity: 'error',
            code: 'CP100',
            message: 'stale',
            notebook: 'nb/demo.ipynb',
            cell: 0,
            cell_number: 1,
            cell_id: 'c0',
            line: 1,
            fix: ''
          }
        ]
      })
    );
    await flush();
    expect(model.diagnostics).toEqual([]);
    model.dispose();
  });

  it('reports a failed analysis and forgets the old notebook on switch', async () => {
    mockedPost.mockRejectedValueOnce(new Error('boom'));
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook('a.ipynb'));
    await flush();
    expect(model.analyzeError).toBe('boom');

    mockedPost.mockResolvedValueOnce(analysis());
    model.setSource(new FakeNotebook('b.ipynb'));
    expect(model.analyzeError).toBeNull();
    await flush();
    expect(model.path).toBe('b.ipynb');
    expect(model.steps).toHaveLength(1);
    model.dispose();
  });

  it('emits analysisChanged with each new analysis', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    const seen: (IAnalyzeResponse | null)[] = [];
    model.analysisChanged.connect((_, a) => seen.push(a));
    model.setSource(new FakeNotebook());
    await flush();
    expect(seen.map(a => (a ? a.path : null))).toEqual([null, 'nb/demo.ipynb']);
    model.dispose();
  });
});

describe('validate and compile', () => {
  it('says how many errors the analyzer found', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockResolvedValue(
      analysis({
        ok: false,
        diagnostics: [
          {
            severity: 'error',
            code: 'CP101',
            message: 'x is never defined',
            notebook: 'nb/demo.ipynb',
            cell: 1,
            cell_number: 2,
            cell_id: 'c1',
            line: 1,
            fix: 'define x'
          }
        ]
      })
    );
    await model.validate();
    expect(model.message).toEqual({
      kind: 'error',
      text: '1 error(s), 0 warning(s): see Diagnostics.'
    });
    model.dispose();
  });

  it('posts compile and reports the output folder', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockResolvedValueOnce({
      output: 'nb/build',
      files: ['nb/build/pipeline.json', 'nb/build/steps/load.ipynb']
    });
    await model.compile();
    expect(mockedPost).toHaveBeenLastCalledWith('compile', {
      path: 'nb/demo.ipynb'
    });
    expect(model.message?.text).toBe('Compiled 2 file(s) into nb/build.');
    expect(model.busy).toBeNull();
    model.dispose();
  });

  it('turns a server error into a message', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockRejectedValueOnce(new Error('invalid pipeline'));
    expect(await model.compile()).toBeNull();
    expect(model.message).toEqual({
      kind: 'error',
      text: 'Compile failed: invalid pipeline'
    });
    model.dispose();
  });
});

describe('refused requests', () => {
  const diagnostic = {
    severity: 'error' as const,
    code: 'CP240',
    message: 'the steps form a cycle: a -> b -> a',
    notebook: 'nb/demo.ipynb',
    cell: 2,
    cell_number: 3,
    cell_id: 'c3',
    line: null,
    fix: 'remove one of the after: tags'
  };
  const refusal = () =>
    Object.assign(new Error('1 error(s) in the pipeline:\n...'), {
      diagnostics: [diagnostic]
    });

  it('lists the diagnostics of a refused Compile', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockRejectedValueOnce(refusal());
    expect(await model.compile()).toBeNull();
    expect(model.message).toEqual({
      kind: 'error',
      text: 'Compile refused: 1 error(s) in the pipeline; fix them first.',
      diagnostics: [diagnostic]
    });
    // Still broken: the list stays; fixed: it goes.
    mockedPost.mockResolvedValueOnce(analysis({ ok: false }));
    await model.analyze();
    expect(model.message?.diagnostics).toEqual([diagnostic]);
    await model.analyze();
    expect(model.message).toBeNull();
    model.dispose();
  });

  it('lists the diagnostics of a refused Run', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    mockedPost.mockRejectedValueOnce(refusal());
    expect(await model.startRun({})).toBeNull();
    expect(model.message?.text).toMatch(/^Run refused: 1 error/);
    expect(model.message?.diagnostics).toEqual([diagnostic]);
    model.dispose();
  });
});

describe('runs', () => {
  it('offers the manifest parameters with their defaults', async () => {
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    expect(model.parameters).toEqual([
      {
        notebook: 'nb/demo.ipynb',
        name: 'n',
        types: ['integer'],
        type: 'integer',
        default: 3
      },
      {
        notebook: 'nb/demo.ipynb',
        name: 'label',
        types: ['string'],
        type: 'string',
        default: 'x'
      }
    ]);
    model.dispose();
  });

  it('starts a run, polls until it ends, then refreshes runs and analysis', async () => {
    jest.useFakeTimers();
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel({ pollMs: 500 });
    model.setSource(new FakeNotebook());
    await Promise.resolve();

    const polls = [
      detail(true, [stepRun('load', 'running')]),
      detail(true, [stepRun('load', 'done')]),
      detail(false, [stepRun('load', 'done')])
    ];
    let listed = 0;
    mockedRequest.mockImplementation(async (endPoint?: string) => {
      if (endPoint === 'runs/r1') {
        return polls.shift() as any;
      }
      if (endPoint?.startsWith('runs?path=')) {
        listed++;
        return { runs: [] } as any;
      }
      if (endPoint?.startsWith('status?')) {
        return { steps: [] } as any;
      }
      throw new Error(endPoint);
    });
    mockedPost.mockImplementation(async (endPoint: string) =>
      endPoint === 'runs' ? ({ run_id: 'r1' } as any) : (analysis() as any)
    );

    const started = model.startRun({ n: 5 }, { force: true });
    await jest.advanceTimersByTimeAsync(0);
    expect(await started).toBe('r1');
    expect(mockedPost).toHaveBeenCalledWith('runs', {
      path: 'nb/demo.ipynb',
      params: { n: 5 },
      force: true
    });
    expect(model.stepState('load')).toBe('running');
    expect(model.runs.running).toBe(true);

    await jest.advanceTimersByTimeAsync(500);
    expect(model.stepState('load')).toBe('done');
    expect(model.stepOutput('load')).toBe('.cellpipe/runs/r1/load.ipynb');

    const listedBefore = listed;
    const analyzedBefore = mockedPost.mock.calls.filter(
      c => c[0] === 'analyze'
    ).length;
    await jest.advanceTimersByTimeAsync(500);
    expect(model.runs.running).toBe(false);
    expect(model.message?.text).toBe('Run r1 succeeded: 1 done.');
    expect(listed).toBe(listedBefore + 1);
    expect(mockedPost.mock.calls.filter(c => c[0] === 'analyze').length).toBe(
      analyzedBefore + 1
    );

    // No more polling of the run once it is over (only, now and then, the
    // question whether another run is in progress).
    const runPolls = () =>
      mockedRequest.mock.calls.filter(c => c[0] === 'runs/r1').length;
    const calls = runPolls();
    await jest.advanceTimersByTimeAsync(5000);
    expect(runPolls()).toBe(calls);
    model.dispose();
  });

  it('cancels the live run with DELETE', async () => {
    mockedPost.mockImplementation(async (endPoint: string) =>
      endPoint === 'runs' ? ({ run_id: 'r1' } as any) : (analysis() as any)
    );
    mockedRequest.mockImplementation(
      async (endPoint?: string, init?: RequestInit) => {
        if (endPoint === 'runs/r1' && init?.method === 'DELETE') {
          return undefined as any;
        }
        if (endPoint === 'runs/r1') {
          return detail(true, [stepRun('load', 'running')]) as any;
        }
        return { runs: [] } as any;
      }
    );
    const model = new CellpipeModel({ pollMs: 10000 });
    model.setSource(new FakeNotebook());
    await model.startRun({});
    await model.runs.cancel();
    expect(mockedRequest).toHaveBeenCalledWith('runs/r1', { method: 'DELETE' });
    expect(model.message?.text).toBe('Cancelling run r1…');
    model.dispose();
  });

  it('stops polling a run the server no longer answers for', async () => {
    jest.useFakeTimers();
    mockedPost.mockImplementation(async (endPoint: string) =>
      endPoint === 'runs' ? ({ run_id: 'r1' } as any) : (analysis() as any)
    );
    mockedRequest.mockImplementation(async (endPoint?: string) => {
      if (endPoint === 'runs/r1') {
        throw new Error('run not found');
      }
      return endPoint?.startsWith('status?')
        ? ({ steps: [] } as any)
        : ({ runs: [] } as any);
    });
    const model = new CellpipeModel({ pollMs: 100 });
    model.setSource(new FakeNotebook());
    const started = model.startRun({});
    await jest.advanceTimersByTimeAsync(0);
    expect(await started).toBe('r1');
    await jest.advanceTimersByTimeAsync(10000);
    const polls = mockedRequest.mock.calls.filter(
      c => c[0] === 'runs/r1'
    ).length;
    expect(polls).toBe(5);
    expect(model.runs.running).toBe(false);
    expect(model.message?.text).toContain('stopped polling');
    model.dispose();
  });

  it('shows the last run state of each step when no run is live', async () => {
    mockedPost.mockResolvedValue(
      analysis({
        steps: {
          load: {
            state: 'cached',
            run_id: 'r0',
            error: null,
            output_notebook: null
          }
        }
      })
    );
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    expect(model.stepState('load')).toBe('cached');
    expect(model.stepState('train')).toBeNull();
    model.dispose();
  });

  it('compares the two picked runs, older first', async () => {
    mockedPost.mockResolvedValue(analysis());
    const record = (id: string) => ({ ...detail(false, []).run, id });
    mockedRequest.mockImplementation(async (endPoint?: string) => {
      if (endPoint?.startsWith('runs?path=')) {
        return { runs: [record('r3'), record('r2'), record('r1')] } as any;
      }
      if (endPoint?.startsWith('status?')) {
        return { steps: [] } as any;
      }
      if (endPoint === 'runs/r1/diff/r3') {
        return {
          a: 'r1',
          b: 'r3',
          params: { 'demo:n': [3, 5] },
          metrics: {},
          artifacts: {}
        } as any;
      }
      throw new Error(endPoint);
    });
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    expect(model.runs.list.map(r => r.id)).toEqual(['r3', 'r2', 'r1']);

    model.runs.toggle('r3');
    model.runs.toggle('r2');
    model.runs.toggle('r1'); // at most two: r3 drops out
    expect(model.runs.selected).toEqual(['r2', 'r1']);
    model.runs.toggle('r2');
    model.runs.toggle('r3');

    const diff = await model.runs.compare();
    expect(diff?.params).toEqual({ 'demo:n': [3, 5] });
    expect(model.runs.diff).toBe(diff);
    model.dispose();
  });
});

describe('status', () => {
  const lastRun = {
    id: 'r1',
    pipeline: 'demo',
    state: 'succeeded' as const,
    started: 1,
    finished: 2,
    params: { 'nb/demo.ipynb': { n: 5, label: 'x', gone: 1 } },
    metrics: [],
    git_commit: null,
    notebooks: ['nb/demo.ipynb'],
    error: null
  };
  const stale = {
    steps: [
      {
        step: 'load',
        notebook: 'nb/demo.ipynb',
        up_to_date: false,
        reason: 'code changed',
        last_run: 'r1'
      }
    ]
  };

  it('tells which steps are stale and why, for the edited notebook, against the last run’s parameters', async () => {
    let broken = false;
    mockedPost.mockImplementation(async (endPoint: string) => {
      if (endPoint === 'status') {
        if (broken) {
          throw Object.assign(new Error('1 error(s) in the pipeline'), {
            diagnostics: []
          });
        }
        return stale as any;
      }
      return analysis() as any;
    });
    mockedRequest.mockImplementation(
      async () => ({ runs: [lastRun], run_id: null }) as any
    );
    const model = new CellpipeModel();
    const notebook = new FakeNotebook();
    model.setSource(notebook);
    await flush();
    expect(model.runs.stepStatus('load')?.up_to_date).toBe(false);
    expect(model.runs.stepStatus('load')?.reason).toBe('code changed');
    expect(model.runs.stepStatus('train')).toBeNull();
    // The unsaved notebook and the last run's values (of the parameters it still has)
    expect(mockedPost).toHaveBeenCalledWith('status', {
      path: 'nb/demo.ipynb',
      content: notebook.content,
      params: { n: 5, label: 'x' }
    });
    expect(model.runs.statusBasis).toEqual({
      runId: 'r1',
      params: { n: 5, label: 'x' }
    });

    // An error in the notebook: the flags are unknown...
    broken = true;
    await model.analyze();
    await flush();
    expect(model.runs.stepStatus('load')).toBeNull();
    expect(model.runs.statusError).toContain('error(s)');
    // ...and come back once it is fixed, without a reload
    broken = false;
    await model.analyze();
    await flush();
    expect(model.runs.stepStatus('load')?.reason).toBe('code changed');
    expect(model.runs.statusError).toBeNull();
    model.dispose();
  });

  it('compares with the defaults before the first run', async () => {
    mockedPost.mockImplementation(async (endPoint: string) =>
      endPoint === 'status' ? (stale as any) : (analysis() as any)
    );
    mockedRequest.mockImplementation(
      async () => ({ runs: [], run_id: null }) as any
    );
    const model = new CellpipeModel();
    model.setSource(new FakeNotebook());
    await flush();
    expect(mockedPost).toHaveBeenCalledWith('status', {
      path: 'nb/demo.ipynb',
      content: { cells: [], metadata: {} }
    });
    expect(model.runs.statusBasis).toBeNull();
    model.dispose();
  });
});

describe('parseParameter', () => {
  it.each([
    ['5', 'integer', 5],
    ['0.5', 'number', 0.5],
    ['True', 'boolean', true],
    ['None', 'null', null],
    ['[1, 2]', 'array', [1, 2]],
    ['hello', 'integer', 'hello'],
    ['42', 'string', '42'],
    ['42', ['string', 'null'], '42'],
    ['007', ['string', 'null'], '007'],
    ['None', ['string', 'null'], null],
    ['true', ['string'], 'true'],
    ['123', ['integer', 'string'], 123],
    ['abc', ['integer', 'string'], 'abc'],
    ['[1]', [], [1]]
  ])('%p as %p is %p', (text, type, value) => {
    expect(parseParameter(text, type)).toEqual(value);
  });
});
