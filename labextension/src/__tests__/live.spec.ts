/**
 * The run in progress: found again after a reload or a notebook switch,
 * polled with backoff and standby, cancelled with a visible outcome.
 */
import { Signal } from '@lumino/signaling';

import { ILiveHost, IMessage, LiveRun, liveStepState } from '../live';
import { CellpipeModel, INotebookSource } from '../model';
import { postJSON, requestAPI } from '../request';
import {
  IAnalyzeResponse,
  IManifestStep,
  IRunDetail,
  IStepRun,
  RunState
} from '../tokens';

jest.mock('../request', () => ({
  requestAPI: jest.fn(),
  postJSON: jest.fn()
}));

const mockedPost = postJSON as jest.MockedFunction<typeof postJSON>;
const mockedRequest = requestAPI as jest.MockedFunction<typeof requestAPI>;

function step(name: string, from: string[] = []): IManifestStep {
  return {
    name,
    notebook: 'nb/demo.ipynb',
    notebook_file: `steps/${name}.ipynb`,
    cells: [],
    code_hash: 'h',
    inputs: { variables: from.map(f => ({ name: 'x', from: f })), files: [] },
    outputs: { variables: [], files: [] },
    changes_inputs: [],
    after: [],
    depends_on: from,
    parameters: [],
    metrics: [],
    imports: [],
    replays_settings: [],
    learned_changes: [],
    nocache: false,
    hints: {}
  };
}

/** load -> train, both done in an earlier run r0. */
function analysis(): IAnalyzeResponse {
  const last = (s: string) => ({
    state: 'done' as const,
    run_id: 'r0',
    error: null,
    output_notebook: `.cellpipe/runs/r0/${s}.ipynb`
  });
  return {
    path: 'nb/demo.ipynb',
    ok: true,
    diagnostics: [],
    steps: { load: last('load'), train: last('train') },
    pipeline: {
      cellpipe_manifest: 1,
      name: 'demo',
      settings: {},
      notebooks: [],
      steps: [step('load'), step('train', ['load'])]
    }
  };
}

function stepRun(name: string, state: IStepRun['state']): IStepRun {
  return {
    step: name,
    notebook: 'nb/demo.ipynb',
    state,
    started: 1700000000,
    finished: null,
    seconds: 1.5,
    error: null,
    output_notebook: null,
    cached_from: null,
    warnings: []
  };
}

function detail(
  id: string,
  state: RunState,
  steps: IStepRun[],
  error: string | null = null
): IRunDetail {
  const active = state === 'running' || state === 'starting';
  return {
    run: {
      id,
      pipeline: 'demo',
      state,
      started: 1700000000,
      finished: active ? null : 1700000009,
      params: {},
      metrics: [],
      git_commit: null,
      notebooks: ['nb/demo.ipynb'],
      error
    },
    steps,
    active
  };
}

class FakeNotebook implements INotebookSource {
  constructor(public path = 'nb/demo.ipynb') {}
  toJSON() {
    return { cells: [], metadata: {} };
  }
  readonly contentChanged = new Signal<this, void>(this);
}

class FakeHost implements ILiveHost {
  path: string | null = 'nb/demo.ipynb';
  messages: IMessage[] = [];
  async save(): Promise<void> {
    return;
  }
  setMessage(message: IMessage | null): void {
    if (message) {
      this.messages.push(message);
    }
  }
  get last(): IMessage | undefined {
    return this.messages[this.messages.length - 1];
  }
}

/** Answers GETs from a table of endpoint -> reply (a function for a sequence). */
function serve(routes: {
  [endPoint: string]: (init?: RequestInit) => unknown;
}): void {
  mockedRequest.mockImplementation(
    async (endPoint?: string, init?: RequestInit) => {
      const key = Object.keys(routes).find(
        k => endPoint === k || endPoint?.startsWith(k)
      );
      if (!key) {
        throw new Error(`unexpected request ${endPoint}`);
      }
      return routes[key](init) as any;
    }
  );
}

const calls = (endPoint: string) =>
  mockedRequest.mock.calls.filter(c => c[0] === endPoint).length;

beforeEach(() => {
  jest.useFakeTimers();
  mockedPost.mockReset();
  mockedRequest.mockReset();
});

afterEach(() => {
  jest.useRealTimers();
});

describe('a run is never lost', () => {
  it('re-attaches to the run in progress when a notebook is followed', async () => {
    // Given a run r1 in progress on the server: load running, train not reached
    const polls = [
      detail('r1', 'running', [
        stepRun('load', 'done'),
        stepRun('train', 'running')
      ]),
      detail('r1', 'succeeded', [
        stepRun('load', 'done'),
        stepRun('train', 'done')
      ])
    ];
    serve({
      'runs/active?path=nb%2Fdemo.ipynb': () => ({
        run: detail('r1', 'running', [stepRun('load', 'running')])
      }),
      'runs/r1': () => polls.shift(),
      'runs?': () => ({ runs: [] }),
      'status?': () => ({ steps: [] })
    });
    mockedPost.mockResolvedValue(analysis());
    const model = new CellpipeModel({ pollMs: 500 });

    // When the panel follows the notebook (a reload, a switch, a second tab)
    model.setSource(new FakeNotebook());
    await jest.advanceTimersByTimeAsync(0);

    // Then it watches r1 at once, with Cancel available...
    expect(model.runs.runId).toBe('r1');
    expect(model.runs.running).toBe(true);
    expect(model.message?.text).toBe('Run r1 is in progress: following it.');
    // ...and a step the run has not reached shows as pending, not as the
    // previous run's "done"; nor does it link to the previous run's output
    expect(model.stepState('load')).toBe('running');
    expect(model.stepState('train')).toBe('pending');
    expect(model.stepOutput('train')).toBeNull();

    // When the run goes on, the states follow it until it ends
    await jest.advanceTimersByTimeAsync(500);
    expect(model.stepState('train')).toBe('running');
    await jest.advanceTimersByTimeAsync(500);
    expect(model.runs.running).toBe(false);
    expect(model.stepState('train')).toBe('done');
    expect(model.message?.text).toBe('Run r1 succeeded: 2 done.');
    model.dispose();
  });

  it('finds a run started elsewhere while idle, at the idle pace', async () => {
    const host = new FakeHost();
    let active: IRunDetail | null = null;
    serve({
      'runs/active?': () => ({ run: active }),
      'runs/r2': () => detail('r2', 'running', [])
    });
    const live = new LiveRun(host, { pollMs: 500, idleMs: 5000 });
    live.follow();
    await jest.advanceTimersByTimeAsync(0);
    expect(calls('runs/active?path=nb%2Fdemo.ipynb')).toBe(1);
    expect(live.running).toBe(false);

    // Given another tab starts r2
    active = detail('r2', 'running', []);
    await jest.advanceTimersByTimeAsync(4999);
    expect(live.runId).toBeNull();
    // Then the next idle question finds it, and the run is polled fast
    await jest.advanceTimersByTimeAsync(1);
    expect(live.runId).toBe('r2');
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls('runs/r2')).toBeGreaterThanOrEqual(2);
    live.dispose();
  });

  it('stands by while the page is hidden', async () => {
    const host = new FakeHost();
    serve({ 'runs/active?': () => ({ run: null }) });
    const live = new LiveRun(host, { pollMs: 100, idleMs: 1000 });
    live.follow();
    await jest.advanceTimersByTimeAsync(0);
    const visibility = jest
      .spyOn(document, 'visibilityState', 'get')
      .mockReturnValue('hidden');
    document.dispatchEvent(new Event('visibilitychange'));
    await jest.advanceTimersByTimeAsync(2000); // lingers one tick, then stands by
    const before = mockedRequest.mock.calls.length;
    await jest.advanceTimersByTimeAsync(20000);
    expect(mockedRequest.mock.calls.length).toBe(before);

    visibility.mockReturnValue('visible');
    document.dispatchEvent(new Event('visibilitychange'));
    await jest.advanceTimersByTimeAsync(1000);
    expect(mockedRequest.mock.calls.length).toBeGreaterThan(before);
    visibility.mockRestore();
    live.dispose();
  });

  it('backs off when the server does not answer, then gives up', async () => {
    const host = new FakeHost();
    serve({
      'runs/active?': () => ({ run: null }),
      'runs/r1': () => {
        throw new Error('server gone');
      }
    });
    mockedPost.mockResolvedValue({ run_id: 'r1' });
    const live = new LiveRun(host, { pollMs: 100, idleMs: 60000 });
    await live.start({});
    await jest.advanceTimersByTimeAsync(0);
    expect(calls('runs/r1')).toBe(1);
    // Backoff: the second poll comes later than the normal 100 ms
    await jest.advanceTimersByTimeAsync(100);
    await jest.advanceTimersByTimeAsync(30000);
    expect(calls('runs/r1')).toBe(5);
    expect(live.running).toBe(false);
    expect(host.last?.text).toContain('stopped polling');
    live.dispose();
  });

  it('forgets the run of the previous notebook on a switch', async () => {
    const host = new FakeHost();
    serve({
      'runs/active?path=nb%2Fdemo.ipynb': () => ({
        run: detail('r1', 'running', [])
      }),
      'runs/active?path=other.ipynb': () => ({ run: null }),
      'runs/r1': () => detail('r1', 'running', [])
    });
    const live = new LiveRun(host, { pollMs: 500 });
    live.follow();
    await jest.advanceTimersByTimeAsync(0);
    expect(live.runId).toBe('r1');
    host.path = 'other.ipynb';
    live.follow();
    expect(live.runId).toBeNull();
    expect(live.stepState('load')).toBeNull();
    await jest.advanceTimersByTimeAsync(2000);
    expect(live.runId).toBeNull();
    live.dispose();
  });
});

describe('Cancel shows its outcome', () => {
  async function running(
    host: FakeHost,
    after: (init?: RequestInit) => unknown,
    deleteReply: () => unknown = () => undefined
  ): Promise<LiveRun> {
    let cancelled = false;
    serve({
      'runs/active?': () => ({ run: detail('r1', 'running', []) }),
      'runs/r1': init => {
        if (init?.method === 'DELETE') {
          cancelled = true;
          return deleteReply();
        }
        return cancelled
          ? after()
          : detail('r1', 'running', [stepRun('load', 'running')]);
      }
    });
    const live = new LiveRun(host, { pollMs: 500, cancelPatienceMs: 10000 });
    live.follow();
    await jest.advanceTimersByTimeAsync(0);
    expect(live.running).toBe(true);
    return live;
  }

  it('says "interrupted" once the server confirms the run stopped', async () => {
    const host = new FakeHost();
    const live = await running(host, () =>
      detail('r1', 'interrupted', [stepRun('load', 'interrupted')])
    );
    await live.cancel();
    expect(mockedRequest).toHaveBeenCalledWith('runs/r1', { method: 'DELETE' });
    expect(live.cancelState?.outcome).toBe('cancelling');
    expect(host.last?.text).toBe('Cancelling run r1…');
    await jest.advanceTimersByTimeAsync(0);
    expect(live.running).toBe(false);
    expect(live.cancelState?.outcome).toBe('interrupted');
    expect(host.last?.kind).toBe('info');
    expect(host.last?.text).toMatch(
      /^Run r1 interrupted: 1 interrupted\. Stopped by Cancel after \d+\.\d s\.$/
    );
    expect(live.stepState('load')).toBe('interrupted');
    live.dispose();
  });

  it('says how a run was stopped when it needed more than Ctrl-C', async () => {
    const host = new FakeHost();
    const note =
      'the run did not stop within 20 s of Cancel; it was stopped with SIGTERM';
    const live = await running(host, () =>
      detail('r1', 'interrupted', [stepRun('load', 'interrupted')], note)
    );
    await live.cancel();
    await jest.advanceTimersByTimeAsync(0);
    expect(host.last?.text).toContain(`Note: ${note}.`);
    live.dispose();
  });

  it('says so when the run could not be interrupted', async () => {
    const host = new FakeHost();
    const note =
      'Cancel could not stop the run: its process (pid 42) is still there after SIGKILL';
    const live = await running(host, () =>
      detail('r1', 'running', [stepRun('load', 'running')], note)
    );
    await live.cancel();
    await jest.advanceTimersByTimeAsync(0);
    expect(live.cancelState?.outcome).toBe('cancelling');
    expect(host.last?.text).toBe(`Cancelling run r1: ${note}…`);
    await jest.advanceTimersByTimeAsync(10000);
    expect(live.running).toBe(true);
    expect(live.cancelState?.outcome).toBe('not-interrupted');
    expect(host.last?.kind).toBe('error');
    expect(host.last?.text).toMatch(
      /^Run r1 could not be interrupted: it is still running 1\d s after Cancel\. Cancel could not stop/
    );
    live.dispose();
  });

  it('says when the run ended before Cancel could interrupt it', async () => {
    const host = new FakeHost();
    const gone = Object.assign(new Error("run 'r1' is not running"), {
      response: { status: 404 }
    });
    const live = await running(
      host,
      () => detail('r1', 'succeeded', [stepRun('load', 'done')]),
      () => {
        throw gone;
      }
    );
    await live.cancel();
    await jest.advanceTimersByTimeAsync(0);
    expect(live.cancelState?.outcome).toBe('finished');
    expect(host.last?.text).toBe(
      'Run r1 succeeded: 1 done. It ended before Cancel could interrupt it.'
    );
    live.dispose();
  });

  it('says so when the server refuses to cancel, and the run goes on', async () => {
    const host = new FakeHost();
    const refused = Object.assign(new Error('permission denied'), {
      response: { status: 500 }
    });
    const live = await running(
      host,
      () => detail('r1', 'running', [stepRun('load', 'running')]),
      () => {
        throw refused;
      }
    );
    await live.cancel();
    expect(host.last).toEqual({
      kind: 'error',
      text: 'Could not cancel run r1: permission denied'
    });
    expect(live.cancelState).toBeNull();
    expect(live.running).toBe(true);
    live.dispose();
  });
});

describe('liveStepState', () => {
  const run = detail('r1', 'running', [stepRun('load', 'done')]);
  it.each([
    ['load', true, 'done'],
    ['train', true, 'pending'],
    ['train', false, null]
  ])('%s while running=%p is %p', (name, isRunning, expected) => {
    expect(liveStepState(run, isRunning as boolean, name as string)).toBe(
      expected
    );
  });
});
