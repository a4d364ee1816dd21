/**
 * Runs of the followed pipeline: start one, poll it while it is live, cancel
 * it; list past runs, compare two; which steps are stale. State and signals
 * only; the views render it, request.ts talks to the server.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { postJSON, requestAPI } from './request';
import {
  IRunDetail,
  IRunDiff,
  IRunRecord,
  IRunRequest,
  IRunsResponse,
  IRunStarted,
  IStatusResponse,
  IStepRun,
  IStepStatus,
  JSONValue
} from './tokens';

/** A message for the panel's message line. */
export interface IMessage {
  kind: 'info' | 'error';
  text: string;
}

export type IRunOptions = Pick<IRunRequest, 'force' | 'only' | 'from'>;

/** What the runs model needs of the panel's model. */
export interface IRunsHost {
  /** The followed notebook's path, or null. */
  readonly path: string | null;
  /** Save the notebook: runs read the saved file. */
  save(): Promise<void>;
  setMessage(message: IMessage | null): void;
}

/** Consecutive failed polls of a live run before the panel stops asking. */
const MAX_POLL_FAILURES = 5;

/** The message of an error thrown by request.ts (or anything else). */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class RunsModel {
  constructor(
    private readonly host: IRunsHost,
    options: { pollMs?: number } = {}
  ) {
    this._pollMs = options.pollMs ?? 500;
  }

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
    return this._run;
  }

  get runId(): string | null {
    return this._runId;
  }

  /** True from the run request until the server says the run is over. */
  get running(): boolean {
    return this._runId !== null && (this._run === null || this._run.active);
  }

  /** A request in flight: 'run' or 'compare'. */
  get busy(): string | null {
    return this._busy;
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
    return this._run?.steps.find(s => s.step === step) ?? null;
  }

  /** Whether a step is up to date with its last run, and why not. */
  stepStatus(step: string): IStepStatus | null {
    return this._status.get(step) ?? null;
  }

  /** Forget everything (another notebook is followed). */
  reset(): void {
    this._clearPoll();
    this._run = null;
    this._runId = null;
    this._list = [];
    this._selected = [];
    this._diff = null;
    this._status = new Map();
    this._emit();
  }

  /**
   * Start a run with parameter overrides, then poll it until it ends.
   * Resolves with the run id once the server accepted the run.
   */
  async start(
    params: { [name: string]: JSONValue },
    options: IRunOptions = {}
  ): Promise<string | null> {
    const path = this.host.path;
    if (!path || this.running) {
      return null;
    }
    this._busy = 'run';
    this._emit();
    try {
      await this.host.save();
      const started = await postJSON<IRunStarted>('runs', {
        path,
        params,
        ...options
      });
      this._clearPoll();
      this._runId = started.run_id;
      this._run = null;
      this._pollFailures = 0;
      this.host.setMessage({
        kind: 'info',
        text: `Run ${started.run_id} started.`
      });
      void this.poll();
      return started.run_id;
    } catch (error) {
      this.host.setMessage({
        kind: 'error',
        text: `Run failed: ${errorText(error)}`
      });
      return null;
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  /** Fetch the live run once; schedules the next poll while it is active. */
  async poll(): Promise<IRunDetail | null> {
    const runId = this._runId;
    if (!runId) {
      return null;
    }
    this._clearPoll();
    let detail: IRunDetail;
    try {
      detail = await requestAPI<IRunDetail>(
        `runs/${encodeURIComponent(runId)}`
      );
    } catch (error) {
      if (runId === this._runId && !this._disposed) {
        this._pollFailures++;
        const giveUp = this._pollFailures >= MAX_POLL_FAILURES;
        this.host.setMessage({
          kind: 'error',
          text:
            `Lost track of run ${runId}: ${errorText(error)}` +
            (giveUp ? ' (stopped polling; see the Runs tab)' : '')
        });
        if (giveUp) {
          this._runId = null;
        } else {
          this._poll = setTimeout(() => void this.poll(), this._pollMs * 4);
        }
        this._emit();
      }
      return null;
    }
    if (runId !== this._runId || this._disposed) {
      return null;
    }
    this._pollFailures = 0;
    this._run = detail;
    if (detail.active) {
      this._poll = setTimeout(() => void this.poll(), this._pollMs);
    } else {
      this.host.setMessage(summary(detail));
      void this.refresh();
      void this.refreshStatus();
      this._finished.emit(detail);
    }
    this._emit();
    return detail;
  }

  /** Ask the server to stop the live run. */
  async cancel(): Promise<void> {
    const runId = this._runId;
    if (!runId) {
      return;
    }
    try {
      await requestAPI<void>(`runs/${encodeURIComponent(runId)}`, {
        method: 'DELETE'
      });
      this.host.setMessage({ kind: 'info', text: `Cancelling run ${runId}…` });
      void this.poll();
    } catch (error) {
      this.host.setMessage({
        kind: 'error',
        text: `Could not cancel: ${errorText(error)}`
      });
    }
  }

  /** Reload this pipeline's runs. */
  async refresh(): Promise<void> {
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
      const known = new Set(result.runs.map(r => r.id));
      this._selected = this._selected.filter(id => known.has(id));
      this._emit();
    } catch (error) {
      console.warn('cellpipe: could not list runs', error);
    }
  }

  /** Ask the server which steps are stale (saved notebook vs. last runs). */
  async refreshStatus(): Promise<void> {
    const path = this.host.path;
    if (!path) {
      return;
    }
    try {
      const result = await requestAPI<IStatusResponse>(
        `status?path=${encodeURIComponent(path)}`
      );
      if (path !== this.host.path || this._disposed) {
        return;
      }
      this._status = new Map((result.steps ?? []).map(s => [s.step, s]));
      this._emit();
    } catch (error) {
      console.warn('cellpipe: could not read the status', error);
    }
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
    this._clearPoll();
    this._disposed = true;
    Signal.clearData(this);
  }

  private _clearPoll(): void {
    if (this._poll !== null) {
      clearTimeout(this._poll);
      this._poll = null;
    }
  }

  private _emit(): void {
    if (!this._disposed) {
      this._stateChanged.emit();
    }
  }

  private _pollMs: number;
  private _poll: ReturnType<typeof setTimeout> | null = null;
  private _pollFailures = 0;
  private _disposed = false;
  private _busy: string | null = null;
  private _run: IRunDetail | null = null;
  private _runId: string | null = null;
  private _list: IRunRecord[] = [];
  private _selected: string[] = [];
  private _diff: IRunDiff | null = null;
  private _status = new Map<string, IStepStatus>();
  private _stateChanged = new Signal<this, void>(this);
  private _finished = new Signal<this, IRunDetail>(this);
}

/** One line on how a run ended, with the first failure's message. */
export function summary(detail: IRunDetail): IMessage {
  const counts = new Map<string, number>();
  for (const step of detail.steps) {
    counts.set(step.state, (counts.get(step.state) ?? 0) + 1);
  }
  const parts = [...counts.entries()].map(([state, n]) => `${n} ${state}`);
  const failed = detail.steps.find(
    s => s.state === 'failed' || s.state === 'check_failed'
  );
  const text =
    `Run ${detail.run.id} ${detail.run.state}: ${parts.join(', ')}.` +
    (failed?.error ? ` ${failed.step}: ${failed.error.message}` : '');
  return { kind: failed ? 'error' : 'info', text };
}
