/**
 * The run in progress of the followed notebook: start it, watch it, cancel it,
 * and find it again. A run is never lost: whenever the panel follows a
 * notebook (page load, notebook switch, a second browser tab) it asks the
 * server which run is in progress for it (`GET runs/active?path=P`) and
 * re-attaches; while idle it keeps asking now and then, so a run started
 * elsewhere (another tab, the CLI) shows up too.
 *
 * Polling is a `@lumino/polling` `Poll`: fast while a run is watched, slow
 * while idle, backing off when the server does not answer, and standing by
 * while the page is hidden.
 */
import { IPoll, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { failureMessage } from './refusal';
import { postJSON, requestAPI } from './request';
import {
  IActiveRun,
  IDiagnostic,
  IRunDetail,
  IRunRequest,
  IRunStarted,
  IStepRun,
  JSONValue,
  StepState
} from './tokens';

/** A message for the panel's message line. */
export interface IMessage {
  kind: 'info' | 'error';
  text: string;
  /** Why the server refused a Compile or Run: the analyzer's diagnostics. */
  diagnostics?: IDiagnostic[];
}

export type IRunOptions = Pick<IRunRequest, 'force' | 'only' | 'from'>;

/** What the live run needs of the panel's model. */
export interface ILiveHost {
  /** The followed notebook's path, or null. */
  readonly path: string | null;
  /** Save the notebook: runs read the saved file. */
  save(): Promise<void>;
  setMessage(message: IMessage | null): void;
}

export interface ILiveOptions {
  /** Interval between two polls of a watched run, in ms. */
  pollMs?: number;
  /** Interval between two "is a run in progress?" questions while idle, in ms. */
  idleMs?: number;
  /**
   * How long after Cancel a run may still be going before the panel says it
   * could not be interrupted, in ms (the server gives a run 20 s, then
   * SIGTERM and SIGKILL 5 s apart).
   */
  cancelPatienceMs?: number;
}

/**
 * What became of a Cancel: asked and waiting (`cancelling`), the run stopped
 * (`interrupted`), it ended on its own first (`finished`), or it is still going
 * past the patience (`not-interrupted`).
 */
export type CancelOutcome =
  'cancelling' | 'interrupted' | 'finished' | 'not-interrupted';

export interface ICancelState {
  runId: string;
  /** When Cancel was pressed (ms since the epoch, browser clock). */
  at: number;
  outcome: CancelOutcome;
  /** The server's word on how the run was stopped, or why it could not be. */
  note: string | null;
}

/** Consecutive failed polls of a watched run before the panel stops asking. */
export const MAX_POLL_FAILURES = 5;

/** The message of an error thrown by request.ts (or anything else). */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The HTTP status of an error thrown by request.ts, if it has one. */
function statusOf(error: unknown): number | null {
  const response = (error as { response?: { status?: number } })?.response;
  return typeof response?.status === 'number' ? response.status : null;
}

/**
 * The state a step shows for a watched run: its record in the run, else
 * `pending` while the run is going (the run has not reached it yet: the
 * previous run's state would be a lie), else null (not part of this run).
 */
export function liveStepState(
  detail: IRunDetail | null,
  running: boolean,
  step: string
): StepState | null {
  const row = detail?.steps.find(s => s.step === step);
  if (row) {
    return row.state;
  }
  return running ? 'pending' : null;
}

export class LiveRun {
  constructor(
    private readonly host: ILiveHost,
    options: ILiveOptions = {}
  ) {
    this._pollMs = options.pollMs ?? 500;
    this._idleMs = Math.max(options.idleMs ?? 5000, this._pollMs);
    this._patienceMs = options.cancelPatienceMs ?? 35000;
    this._poll = new Poll({
      auto: false,
      name: 'cellpipe:live-run',
      factory: () => this._tick(),
      frequency: this._frequency(),
      standby: 'when-hidden'
    });
  }

  /** Any change: the views re-render. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The watched run ended (the server says it is no longer active). */
  get finished(): ISignal<this, IRunDetail> {
    return this._finished;
  }

  /** The watched (or last watched) run, as the last poll saw it. */
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

  /** 'run' while a run request is in flight. */
  get busy(): string | null {
    return this._busy;
  }

  /** The last Cancel of the watched run and what became of it. */
  get cancelState(): ICancelState | null {
    return this._cancel && this._cancel.runId === this._runId
      ? this._cancel
      : null;
  }

  /** The watched run's record of a step. */
  stepRun(step: string): IStepRun | null {
    return this._run?.steps.find(s => s.step === step) ?? null;
  }

  /** The state of a step in the watched run (see liveStepState). */
  stepState(step: string): StepState | null {
    return this._runId === null
      ? null
      : liveStepState(this._run, this.running, step);
  }

  /**
   * Follow the host's current notebook: forget the run shown so far and ask
   * the server at once which run is in progress for it.
   */
  follow(): void {
    this._runId = null;
    this._run = null;
    this._cancel = null;
    this._failures = 0;
    this._emit();
    if (this.host.path) {
      this._poll.frequency = this._frequency();
      void this._poll.refresh();
    } else {
      void this._poll.stop();
    }
  }

  /** Poll now (the answer arrives asynchronously). */
  async refreshNow(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick.catch(() => undefined);
  }

  /**
   * Start a run with parameter overrides, then watch it until it ends.
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
      if (path !== this.host.path || this._disposed) {
        return started.run_id;
      }
      this._watch(started.run_id, null);
      this.host.setMessage({
        kind: 'info',
        text: `Run ${started.run_id} started.`
      });
      return started.run_id;
    } catch (error) {
      this.host.setMessage(failureMessage('Run', error));
      return null;
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  /**
   * Ask the server to stop the watched run. The outcome (interrupted, ended
   * first, or could not be interrupted) is reported once the server says so.
   */
  async cancel(): Promise<void> {
    const runId = this._runId;
    if (!runId || !this.running) {
      return;
    }
    this._cancel = {
      runId,
      at: Date.now(),
      outcome: 'cancelling',
      note: null
    };
    this._emit();
    try {
      await requestAPI<void>(`runs/${encodeURIComponent(runId)}`, {
        method: 'DELETE'
      });
      if (runId === this._runId) {
        this.host.setMessage({
          kind: 'info',
          text: `Cancelling run ${runId}…`
        });
      }
    } catch (error) {
      if (runId !== this._runId) {
        return;
      }
      if (statusOf(error) !== 404) {
        // The server refused or could not signal the run: it goes on.
        this._cancel = null;
        this.host.setMessage({
          kind: 'error',
          text: `Could not cancel run ${runId}: ${errorText(error)}`
        });
        this._emit();
        return;
      }
      // 404: the run is not running any more; the next poll says how it ended.
    }
    void this._poll.refresh();
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  // ------------------------------------------------------------ private

  private _frequency(): IPoll.Frequency {
    return this.running
      ? { interval: this._pollMs, backoff: 2, max: 10 * this._pollMs }
      : { interval: this._idleMs, backoff: 2, max: 6 * this._idleMs };
  }

  private _watch(runId: string, detail: IRunDetail | null): void {
    this._runId = runId;
    this._run = detail;
    this._failures = 0;
    this._poll.frequency = this._frequency();
    void this._poll.refresh();
    this._emit();
  }

  /** One poll: the watched run's detail, else which run is in progress. */
  private async _tick(): Promise<void> {
    if (this._disposed) {
      return;
    }
    if (this.running) {
      await this._pollRun(this._runId!);
    } else if (this.host.path) {
      await this._findActive(this.host.path);
    }
    this._poll.frequency = this._frequency();
  }

  private async _findActive(path: string): Promise<void> {
    const answer = await requestAPI<IActiveRun>(
      `runs/active?path=${encodeURIComponent(path)}`
    );
    const detail = answer?.run ?? null;
    if (
      path !== this.host.path ||
      this._disposed ||
      this.running ||
      !detail ||
      !detail.active
    ) {
      return;
    }
    this._watch(detail.run.id, detail);
    this.host.setMessage({
      kind: 'info',
      text: `Run ${detail.run.id} is in progress: following it.`
    });
  }

  private async _pollRun(runId: string): Promise<void> {
    let detail: IRunDetail;
    try {
      detail = await requestAPI<IRunDetail>(
        `runs/${encodeURIComponent(runId)}`
      );
    } catch (error) {
      if (runId !== this._runId || this._disposed) {
        return;
      }
      this._failures++;
      const giveUp = this._failures >= MAX_POLL_FAILURES;
      this.host.setMessage({
        kind: 'error',
        text:
          `Lost track of run ${runId}: ${errorText(error)}` +
          (giveUp ? ' (stopped polling; see the Runs tab)' : '')
      });
      if (giveUp) {
        this._runId = null;
        this._run = null;
        this._emit();
        return; // back to the idle pace
      }
      this._emit();
      throw error; // the poll backs off
    }
    if (runId !== this._runId || this._disposed) {
      return;
    }
    this._failures = 0;
    this._run = detail;
    this._judgeCancel(detail);
    if (!detail.active) {
      this.host.setMessage(this._endMessage(detail));
      this._finished.emit(detail);
    }
    this._emit();
  }

  /** Update what became of a Cancel from the run's latest detail. */
  private _judgeCancel(detail: IRunDetail): void {
    const cancel = this._cancel;
    if (!cancel || cancel.runId !== detail.run.id) {
      return;
    }
    cancel.note = detail.run.error ?? cancel.note;
    if (!detail.active) {
      cancel.outcome =
        detail.run.state === 'interrupted' ? 'interrupted' : 'finished';
      return;
    }
    const waited = Date.now() - cancel.at;
    if (waited >= this._patienceMs && cancel.outcome === 'cancelling') {
      cancel.outcome = 'not-interrupted';
      this.host.setMessage({
        kind: 'error',
        text:
          `Run ${detail.run.id} could not be interrupted: it is still running ` +
          `${Math.round(waited / 1000)} s after Cancel.` +
          (cancel.note ? ` ${cancel.note}.` : '') +
          ' Press Cancel again, or stop it from a terminal.'
      });
    } else if (cancel.note && cancel.outcome === 'cancelling') {
      this.host.setMessage({
        kind: 'info',
        text: `Cancelling run ${detail.run.id}: ${cancel.note}…`
      });
    }
  }

  private _endMessage(detail: IRunDetail): IMessage {
    const base = summary(detail);
    const cancel = this._cancel;
    if (!cancel || cancel.runId !== detail.run.id) {
      return base;
    }
    const seconds = ((Date.now() - cancel.at) / 1000).toFixed(1);
    if (cancel.outcome === 'interrupted') {
      return {
        kind: 'info',
        text:
          `${base.text} Stopped by Cancel after ${seconds} s.` +
          (cancel.note ? ` Note: ${cancel.note}.` : '')
      };
    }
    return {
      kind: base.kind,
      text: `${base.text} It ended before Cancel could interrupt it.`
    };
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _pollMs: number;
  private _idleMs: number;
  private _patienceMs: number;
  private _poll: Poll;
  private _failures = 0;
  private _disposed = false;
  private _busy: string | null = null;
  private _run: IRunDetail | null = null;
  private _runId: string | null = null;
  private _cancel: ICancelState | null = null;
  private _changed = new Signal<this, void>(this);
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
    `Run ${detail.run.id} ${detail.run.state}: ${parts.join(', ') || 'no step ran'}.` +
    (failed?.error ? ` ${failed.step}: ${failed.error.message}` : '') +
    (detail.run.state === 'failed' && !failed && detail.run.error
      ? ` ${detail.run.error}`
      : '');
  return {
    kind: failed || detail.run.state === 'failed' ? 'error' : 'info',
    text
  };
}
