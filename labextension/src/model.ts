/**
 * The panel's state, following one notebook at a time.
 *
 * The model knows nothing of widgets: it is fed a notebook "source" (path, JSON
 * and a change signal), talks to the server through request.ts, and announces
 * every change with signals that the views render from.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { postJSON, requestAPI } from './request';
import {
  IAnalyzeResponse,
  ICompileResponse,
  IDiagnostic,
  IManifestStep,
  IRunDetail,
  IRunDiff,
  IRunRecord,
  IRunRequest,
  IRunsResponse,
  IRunStarted,
  IStatusResponse,
  IStepRun,
  IStepStatus,
  JSONValue,
  StepState
} from './tokens';

/** Consecutive failed polls of a live run before the panel stops asking. */
const MAX_POLL_FAILURES = 5;

/** What the model needs of a notebook. */
export interface INotebookSource {
  /** Path relative to the server root. */
  readonly path: string;
  /** The notebook's current (unsaved) content. */
  toJSON(): JSONValue;
  /** Emitted on every content change (cells, sources, tags). */
  readonly contentChanged: ISignal<any, void>;
  /** Save unsaved changes to disk: compile and run read the saved file. */
  save?: () => Promise<void>;
}

/** A run parameter the form offers, with its default. */
export interface IParameterField {
  notebook: string;
  name: string;
  type: string;
  default: JSONValue;
}

export interface IMessage {
  kind: 'info' | 'error';
  text: string;
}

export type IRunOptions = Pick<IRunRequest, 'force' | 'only' | 'from'>;

export interface IModelOptions {
  /** Quiet time after the last edit before analyzing, in ms. */
  debounceMs?: number;
  /** Interval between two polls of a live run, in ms. */
  pollMs?: number;
}

/** The message of an error thrown by request.ts (or anything else). */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/**
 * Turn what a user typed in the run form into a parameter value: text for a
 * string parameter, otherwise JSON (numbers, booleans, lists), Python's
 * True/False/None accepted, and plain text when nothing else fits.
 */
export function parseParameter(text: string, type: string): JSONValue {
  const trimmed = text.trim();
  if (type === 'string' || type === 'str') {
    return text;
  }
  const python: { [key: string]: JSONValue } = {
    True: true,
    False: false,
    None: null
  };
  if (trimmed in python) {
    return python[trimmed];
  }
  try {
    return JSON.parse(trimmed) as JSONValue;
  } catch {
    return text;
  }
}

/** Show a parameter value in a text field. */
export function formatParameter(value: JSONValue): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value === null) {
    return 'None';
  }
  return JSON.stringify(value);
}

export class CellpipeModel {
  constructor(options: IModelOptions = {}) {
    this._debounceMs = options.debounceMs ?? 400;
    this._pollMs = options.pollMs ?? 500;
  }

  // ------------------------------------------------------------ signals

  /** Any change of state: the views re-render. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** A new analysis arrived (or was cleared): the cell marks update. */
  get analysisChanged(): ISignal<this, IAnalyzeResponse | null> {
    return this._analysisChanged;
  }

  /** The live run changed (a poll answered). */
  get runChanged(): ISignal<this, IRunDetail | null> {
    return this._runChanged;
  }

  // ------------------------------------------------------------ state

  get source(): INotebookSource | null {
    return this._source;
  }

  get path(): string | null {
    return this._source?.path ?? null;
  }

  get analysis(): IAnalyzeResponse | null {
    return this._analysis;
  }

  get analyzing(): boolean {
    return this._analyzing;
  }

  get analyzeError(): string | null {
    return this._analyzeError;
  }

  get steps(): IManifestStep[] {
    return this._analysis?.pipeline?.steps ?? [];
  }

  get diagnostics(): IDiagnostic[] {
    return this._analysis?.diagnostics ?? [];
  }

  get selectedStep(): string | null {
    return this._selectedStep;
  }

  get message(): IMessage | null {
    return this._message;
  }

  get busy(): string | null {
    return this._busy;
  }

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

  get runs(): IRunRecord[] {
    return this._runs;
  }

  get selectedRuns(): string[] {
    return this._selectedRuns;
  }

  get diff(): IRunDiff | null {
    return this._diff;
  }

  /** Whether a step is up to date with its last run, and why not (`status`). */
  stepStatus(step: string): IStepStatus | null {
    return this._status.get(step) ?? null;
  }

  get activeCellTags(): string[] {
    return this._activeCellTags;
  }

  get activeCellIndex(): number | null {
    return this._activeCellIndex;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  // ------------------------------------------------------------ following the notebook

  /** Follow another notebook (null: none is active). */
  setSource(source: INotebookSource | null): void {
    if (source === this._source) {
      return;
    }
    if (this._source) {
      this._source.contentChanged.disconnect(this._onContentChanged, this);
    }
    this._clearTimer('_debounce');
    this._clearTimer('_poll');
    this._source = source;
    this._seq++;
    this._analysis = null;
    this._analyzeError = null;
    this._selectedStep = null;
    this._message = null;
    this._run = null;
    this._runId = null;
    this._runs = [];
    this._selectedRuns = [];
    this._diff = null;
    this._status = new Map();
    this._analysisChanged.emit(null);
    this._runChanged.emit(null);
    this._emit();
    if (source) {
      source.contentChanged.connect(this._onContentChanged, this);
      void this.analyze();
      void this.refreshRuns();
      void this.refreshStatus();
    }
  }

  /** Record the active cell (index and tags) for the actions bar. */
  setActiveCell(index: number | null, tags: readonly string[]): void {
    const same =
      index === this._activeCellIndex &&
      tags.length === this._activeCellTags.length &&
      tags.every((t, i) => t === this._activeCellTags[i]);
    if (same) {
      return;
    }
    this._activeCellIndex = index;
    this._activeCellTags = [...tags];
    this._emit();
  }

  selectStep(name: string | null): void {
    if (name !== this._selectedStep) {
      this._selectedStep = name;
      this._emit();
    }
  }

  setMessage(message: IMessage | null): void {
    this._message = message;
    this._emit();
  }

  // ------------------------------------------------------------ analysis

  /** Analyze after the notebook has been quiet for `debounceMs`. */
  scheduleAnalysis(): void {
    this._clearTimer('_debounce');
    this._debounce = setTimeout(() => {
      this._debounce = null;
      void this.analyze();
    }, this._debounceMs);
  }

  /** POST the current notebook to `analyze`; a stale answer is dropped. */
  async analyze(): Promise<IAnalyzeResponse | null> {
    const source = this._source;
    if (!source) {
      return null;
    }
    this._clearTimer('_debounce');
    const seq = ++this._seq;
    this._analyzing = true;
    this._emit();
    try {
      const result = await postJSON<IAnalyzeResponse>('analyze', {
        path: source.path,
        content: source.toJSON()
      });
      if (seq !== this._seq || this._disposed) {
        return null;
      }
      this._analysis = result;
      this._analyzeError = null;
      if (
        this._selectedStep !== null &&
        !this.steps.some(s => s.name === this._selectedStep)
      ) {
        this._selectedStep = null;
      }
      this._analysisChanged.emit(result);
      return result;
    } catch (error) {
      if (seq === this._seq) {
        this._analyzeError = errorText(error);
      }
      return null;
    } finally {
      if (seq === this._seq) {
        this._analyzing = false;
        this._emit();
      }
    }
  }

  /** Analyze now and say whether the pipeline is valid. */
  async validate(): Promise<void> {
    const result = await this.analyze();
    if (!result) {
      this.setMessage({
        kind: 'error',
        text: `Validation failed: ${this._analyzeError ?? 'no answer'}`
      });
      return;
    }
    const errors = result.diagnostics.filter(d => d.severity === 'error');
    const warnings = result.diagnostics.length - errors.length;
    const steps = result.pipeline?.steps.length ?? 0;
    this.setMessage(
      errors.length > 0
        ? {
            kind: 'error',
            text: `${errors.length} error(s), ${warnings} warning(s): see Diagnostics.`
          }
        : {
            kind: 'info',
            text: `Valid pipeline: ${steps} step(s), ${warnings} warning(s).`
          }
    );
  }

  /** Compile the pipeline on the server (pipeline.json and step notebooks). */
  async compile(output?: string): Promise<ICompileResponse | null> {
    const path = this.path;
    if (!path) {
      return null;
    }
    return this._withBusy('compile', async () => {
      await this._source?.save?.();
      const result = await postJSON<ICompileResponse>(
        'compile',
        output ? { path, output } : { path }
      );
      this.setMessage({
        kind: 'info',
        text: `Compiled ${result.files.length} file(s) into ${result.output}.`
      });
      return result;
    });
  }

  /** The parameters a run can override, with their defaults. */
  get parameters(): IParameterField[] {
    const fields: IParameterField[] = [];
    for (const notebook of this._analysis?.pipeline?.notebooks ?? []) {
      for (const [name, spec] of Object.entries(notebook.parameters ?? {})) {
        fields.push({
          notebook: notebook.path,
          name,
          type: String(spec?.schema?.type ?? ''),
          default: spec?.default ?? null
        });
      }
    }
    return fields;
  }

  // ------------------------------------------------------------ runs

  /**
   * Start a run with the given parameter overrides, then poll it until it ends.
   * Resolves with the run id once the server accepted the run.
   */
  async startRun(
    params: { [name: string]: JSONValue },
    options: IRunOptions = {}
  ): Promise<string | null> {
    const path = this.path;
    if (!path || this.running) {
      return null;
    }
    return this._withBusy('run', async () => {
      await this._source?.save?.();
      const started = await postJSON<IRunStarted>('runs', {
        path,
        params,
        ...options
      });
      this._clearTimer('_poll');
      this._runId = started.run_id;
      this._run = null;
      this._pollFailures = 0;
      this._message = { kind: 'info', text: `Run ${started.run_id} started.` };
      this._runChanged.emit(null);
      this._emit();
      void this.poll();
      return started.run_id;
    });
  }

  /** Fetch the live run once; schedules the next poll while it is active. */
  async poll(): Promise<IRunDetail | null> {
    const runId = this._runId;
    if (!runId) {
      return null;
    }
    this._clearTimer('_poll');
    let detail: IRunDetail;
    try {
      detail = await requestAPI<IRunDetail>(
        `runs/${encodeURIComponent(runId)}`
      );
    } catch (error) {
      if (runId === this._runId && !this._disposed) {
        this._pollFailures++;
        const giveUp = this._pollFailures >= MAX_POLL_FAILURES;
        this._message = {
          kind: 'error',
          text:
            `Lost track of run ${runId}: ${errorText(error)}` +
            (giveUp ? ' (stopped polling; see the Runs tab)' : '')
        };
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
    this._runChanged.emit(detail);
    if (detail.active) {
      this._poll = setTimeout(() => void this.poll(), this._pollMs);
    } else {
      this._message = this._runSummary(detail);
      void this.refreshRuns();
      void this.refreshStatus();
      void this.analyze();
    }
    this._emit();
    return detail;
  }

  /** Ask the server to stop the live run. */
  async cancelRun(): Promise<void> {
    const runId = this._runId;
    if (!runId) {
      return;
    }
    try {
      await requestAPI<void>(`runs/${encodeURIComponent(runId)}`, {
        method: 'DELETE'
      });
      this.setMessage({ kind: 'info', text: `Cancelling run ${runId}…` });
      void this.poll();
    } catch (error) {
      this.setMessage({
        kind: 'error',
        text: `Could not cancel: ${errorText(error)}`
      });
    }
  }

  /** The state a step shows: the live run's, else its last run's. */
  stepState(step: string): StepState | null {
    const live = this.stepRun(step);
    if (live) {
      return live.state;
    }
    return this._analysis?.steps?.[step]?.state ?? null;
  }

  /** The live run's record of a step, if a run is shown. */
  stepRun(step: string): IStepRun | null {
    return this._run?.steps.find(s => s.step === step) ?? null;
  }

  /** Where the step's output notebook is (live run first, then last run). */
  stepOutput(step: string): string | null {
    const live = this.stepRun(step);
    if (live) {
      return live.output_notebook;
    }
    return this._analysis?.steps?.[step]?.output_notebook ?? null;
  }

  /** The run whose output notebook a step links to, and where it is. */
  stepOutputRef(step: string): { runId: string; path: string } | null {
    const live = this.stepRun(step);
    if (live && this._runId) {
      return live.output_notebook
        ? { runId: this._runId, path: live.output_notebook }
        : null;
    }
    const last = this._analysis?.steps?.[step];
    return last?.output_notebook && last.run_id
      ? { runId: last.run_id, path: last.output_notebook }
      : null;
  }

  /** This pipeline's runs, newest first as the server sends them. */
  async refreshRuns(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    try {
      const result = await requestAPI<IRunsResponse>(
        `runs?path=${encodeURIComponent(path)}`
      );
      if (path !== this.path || this._disposed) {
        return;
      }
      this._runs = result.runs;
      const known = new Set(result.runs.map(r => r.id));
      this._selectedRuns = this._selectedRuns.filter(id => known.has(id));
      this._emit();
    } catch (error) {
      console.warn('cellpipe: could not list runs', error);
    }
  }

  /** Ask the server which steps are stale (saved notebook vs. last runs). */
  async refreshStatus(): Promise<void> {
    const path = this.path;
    if (!path) {
      return;
    }
    try {
      const result = await requestAPI<IStatusResponse>(
        `status?path=${encodeURIComponent(path)}`
      );
      if (path !== this.path || this._disposed) {
        return;
      }
      this._status = new Map(result.steps.map(s => [s.step, s]));
      this._emit();
    } catch (error) {
      console.warn('cellpipe: could not read the status', error);
    }
  }

  /** Pick a run for comparison (at most two; the oldest pick drops out). */
  toggleRunSelection(id: string): void {
    if (this._selectedRuns.includes(id)) {
      this._selectedRuns = this._selectedRuns.filter(r => r !== id);
    } else {
      this._selectedRuns = [...this._selectedRuns, id].slice(-2);
    }
    this._diff = null;
    this._emit();
  }

  /** Compare the two picked runs (older first). */
  async compare(): Promise<IRunDiff | null> {
    if (this._selectedRuns.length !== 2) {
      return null;
    }
    const order = this._runs.map(r => r.id);
    const [a, b] = [...this._selectedRuns].sort(
      (x, y) => order.indexOf(y) - order.indexOf(x)
    );
    return this._withBusy('compare', async () => {
      const diff = await requestAPI<IRunDiff>(
        `runs/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`
      );
      this._diff = diff;
      this._emit();
      return diff;
    });
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this.setSource(null);
    this._disposed = true;
    Signal.clearData(this);
  }

  // ------------------------------------------------------------ private

  private _onContentChanged(): void {
    this.scheduleAnalysis();
  }

  private _runSummary(detail: IRunDetail): IMessage {
    const counts = new Map<string, number>();
    for (const step of detail.steps) {
      counts.set(step.state, (counts.get(step.state) ?? 0) + 1);
    }
    const parts = [...counts.entries()].map(([state, n]) => `${n} ${state}`);
    const failed = detail.steps.find(s => s.state === 'failed');
    const text =
      `Run ${detail.run.id} ${detail.run.state}: ${parts.join(', ')}.` +
      (failed?.error ? ` ${failed.step}: ${failed.error.message}` : '');
    return { kind: failed ? 'error' : 'info', text };
  }

  private async _withBusy<T>(
    what: string,
    action: () => Promise<T>
  ): Promise<T | null> {
    this._busy = what;
    this._emit();
    try {
      return await action();
    } catch (error) {
      this._message = {
        kind: 'error',
        text: `${what[0].toUpperCase()}${what.slice(1)} failed: ${errorText(error)}`
      };
      return null;
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  private _clearTimer(which: '_debounce' | '_poll'): void {
    const timer = this[which];
    if (timer !== null) {
      clearTimeout(timer);
      this[which] = null;
    }
  }

  private _emit(): void {
    if (!this._disposed) {
      this._stateChanged.emit();
    }
  }

  private _debounceMs: number;
  private _pollMs: number;
  private _debounce: ReturnType<typeof setTimeout> | null = null;
  private _poll: ReturnType<typeof setTimeout> | null = null;
  private _seq = 0;
  private _pollFailures = 0;
  private _disposed = false;
  private _source: INotebookSource | null = null;
  private _analysis: IAnalyzeResponse | null = null;
  private _analyzing = false;
  private _analyzeError: string | null = null;
  private _selectedStep: string | null = null;
  private _message: IMessage | null = null;
  private _busy: string | null = null;
  private _run: IRunDetail | null = null;
  private _runId: string | null = null;
  private _runs: IRunRecord[] = [];
  private _selectedRuns: string[] = [];
  private _diff: IRunDiff | null = null;
  private _status = new Map<string, IStepStatus>();
  private _activeCellTags: string[] = [];
  private _activeCellIndex: number | null = null;
  private _stateChanged = new Signal<this, void>(this);
  private _analysisChanged = new Signal<this, IAnalyzeResponse | null>(this);
  private _runChanged = new Signal<this, IRunDetail | null>(this);
}
