/**
 * Runs of the followed pipeline: the run in progress (live.ts: start, watch,
 * cancel, re-attach); past runs, compare two; which steps are stale. State and signals
 * only; the views render it, request.ts talks to the server.
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  errorText,
  ICancelState,
  ILiveHost,
  ILiveOptions,
  IRunOptions,
  LiveRun
} from './live';
import { IParameterField } from './params';
import { postJSON, requestAPI } from './request';
import { IStatusBasis, lastRunBasis } from './stale';
import {
  IRunDetail,
  IRunDiff,
  IRunRecord,
  IRunsResponse,
  IStatusResponse,
  IStepRun,
  IStepStatus,
  JSONValue,
  StepState
} from './tokens';

export { errorText, summary } from './live';
export type { ICancelState, IMessage, IRunOptions } from './live';

/** What the runs model needs of the panel's model. */
export type IRunsHost = ILiveHost & {
  /** The notebook as the editor holds it (unsaved edits included). */
  content?(): JSONValue | undefined;
  /** The parameters the notebook declares now. */
  parameters?(): IParameterField[];
};

export class RunsModel {
  constructor(
    private readonly host: IRunsHost,
    options: ILiveOptions = {}
  ) {
    this.live = new LiveRun(host, options);
    this.live.changed.connect(this._emit, this);
    this.live.finished.connect((_, detail) => {
      void this.refresh();
      void this.refreshStatus();
      this._finished.emit(detail);
    }, this);
  }

  /** The run in progress (or last watched) of the followed notebook. */
  readonly live: LiveRun;

  /** Any change: the views re-render. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** The live run ended (the server says it is no longer active). */
  get finished(): ISignal<this, IRunDetail> {
    return this._finished;
  }

  /** The live (or last watched) run, as the last poll saw it. */
  get run(): IRunDetail | null {
    return this.live.run;
  }

  get runId(): string | null {
    return this.live.runId;
  }

  /** True from the run request until the server says the run is over. */
  get running(): boolean {
    return this.live.running;
  }

  /** The last Cancel of the watched run and what became of it. */
  get cancelState(): ICancelState | null {
    return this.live.cancelState;
  }

  /** A request in flight: 'run' or 'compare'. */
  get busy(): string | null {
    return this._busy ?? this.live.busy;
  }

  /** This pipeline's runs, newest first. */
  get list(): IRunRecord[] {
    return this._list;
  }

  /** The runs picked for comparison (at most two). */
  get selected(): string[] {
    return this._selected;
  }

  get diff(): IRunDiff | null {
    return this._diff;
  }

  /** The watched run's record of a step. */
  stepRun(step: string): IStepRun | null {
    return this.live.stepRun(step);
  }

  /**
   * A step's state in the watched run: `pending` while the run has not reached
   * it; null when no run is watched or the finished run did not include it.
   */
  stepState(step: string): StepState | null {
    return this.live.stepState(step);
  }

  /** Whether a step is up to date with its last run, and why not. */
  stepStatus(step: string): IStepStatus | null {
    return this._status.get(step) ?? null;
  }

  /** The run the stale flags compare with (its parameters), or null. */
  get statusBasis(): IStatusBasis | null {
    return this._statusBasis;
  }

  /** Why the stale flags are unknown (the pipeline has errors), or null. */
  get statusError(): string | null {
    return this._statusError;
  }

  /**
   * Forget everything (another notebook is followed), then ask the server
   * which run is in progress for the new one.
   */
  reset(): void {
    this.live.follow();
    this._list = [];
    this._selected = [];
    this._diff = null;
    this._status = new Map();
    this._statusBasis = null;
    this._statusError = null;
    this._listLoaded = false;
    this._statusSeq++;
    this._emit();
  }

  /** Start a run with parameter overrides, then watch it until it ends. */
  start(
    params: { [name: string]: JSONValue },
    options: IRunOptions = {}
  ): Promise<string | null> {
    return this.live.start(params, options);
  }

  /** Ask the server to stop the live run (its outcome is reported). */
  cancel(): Promise<void> {
    return this.live.cancel();
  }

  /** Reload this pipeline's runs. */
  refresh(): Promise<void> {
    const pending = this._loadList();
    this._refreshing = pending;
    void pending.finally(() => {
      if (this._refreshing === pending) {
        this._refreshing = null;
      }
    });
    return pending;
  }

  private async _loadList(): Promise<void> {
    const path = this.host.path;
    if (!path) {
      return;
    }
    try {
      const result = await requestAPI<IRunsResponse>(
        `runs?path=${encodeURIComponent(path)}`
      );
      if (path !== this.host.path || this._disposed) {
        return;
      }
      this._list = result.runs ?? [];
      this._listLoaded = true;
      const known = new Set(result.runs.map(r => r.id));
      this._selected = this._selected.filter(id => known.has(id));
      this._emit();
    } catch (error) {
      console.warn('cellpipe: could not list runs', error);
    }
  }

  /**
   * Ask the server which steps are stale: for the notebook as the editor holds
   * it, against the parameters of the last run. When the pipeline has errors
   * the flags are unknown (cleared, with the reason); they come back with the
   * first analysis after the fix.
   */
  async refreshStatus(): Promise<void> {
    const path = this.host.path;
    if (!path) {
      return;
    }
    const seq = ++this._statusSeq;
    if (this._refreshing) {
      await this._refreshing;
    } else if (!this._listLoaded) {
      await this.refresh();
    }
    if (seq !== this._statusSeq || path !== this.host.path || this._disposed) {
      return;
    }
    const content = this.host.content?.();
    const basis = lastRunBasis(this._list, this.host.parameters?.() ?? []);
    try {
      const result = await postJSON<IStatusResponse>('status', {
        path,
        ...(content !== undefined ? { content } : {}),
        ...(basis ? { params: basis.params } : {})
      });
      if (
        seq !== this._statusSeq ||
        path !== this.host.path ||
        this._disposed
      ) {
        return;
      }
      this._status = new Map((result.steps ?? []).map(s => [s.step, s]));
      this._statusBasis = basis;
      this._statusError = null;
    } catch (error) {
      if (seq !== this._statusSeq || this._disposed) {
        return;
      }
      this._status = new Map();
      this._statusBasis = null;
      this._statusError = errorText(error);
    }
    this._emit();
  }

  /** Pick a run for comparison (at most two; the oldest pick drops out). */
  toggle(id: string): void {
    if (this._selected.includes(id)) {
      this._selected = this._selected.filter(r => r !== id);
    } else {
      this._selected = [...this._selected, id].slice(-2);
    }
    this._diff = null;
    this._emit();
  }

  /** Compare the two picked runs (older first). */
  async compare(): Promise<IRunDiff | null> {
    if (this._selected.length !== 2) {
      return null;
    }
    const order = this._list.map(r => r.id);
    const [a, b] = [...this._selected].sort(
      (x, y) => order.indexOf(y) - order.indexOf(x)
    );
    this._busy = 'compare';
    this._emit();
    try {
      this._diff = await requestAPI<IRunDiff>(
        `runs/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`
      );
      return this._diff;
    } catch (error) {
      this.host.setMessage({
        kind: 'error',
        text: `Compare failed: ${errorText(error)}`
      });
      return null;
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this.live.dispose();
    this._disposed = true;
    Signal.clearData(this);
  }

  private _emit(): void {
    if (!this._disposed) {
      this._stateChanged.emit();
    }
  }

  private _disposed = false;
  private _busy: string | null = null;
  private _list: IRunRecord[] = [];
  private _selected: string[] = [];
  private _diff: IRunDiff | null = null;
  private _status = new Map<string, IStepStatus>();
  private _statusBasis: IStatusBasis | null = null;
  private _statusError: string | null = null;
  private _statusSeq = 0;
  private _listLoaded = false;
  private _refreshing: Promise<void> | null = null;
  private _stateChanged = new Signal<this, void>(this);
  private _finished = new Signal<this, IRunDetail>(this);
}
