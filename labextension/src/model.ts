/**
 * The panel's state, following one notebook at a time.
 *
 * The model knows nothing of widgets: it is fed a notebook "source" (path, JSON
 * and a change signal), talks to the server through request.ts, and announces
 * every change with signals that the views render from.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { IParameterField, parametersOf } from './params';
import { postJSON } from './request';
import { failureMessage } from './refusal';
import { errorText, IMessage, IRunOptions, RunsModel } from './runs';
import {
  IAnalyzeResponse,
  ICompileResponse,
  IDiagnostic,
  IExportResponse,
  ExportKind,
  IManifestStep,
  IStepError,
  IStepRun,
  JSONValue,
  StepState
} from './tokens';

export { errorText } from './runs';
export { formatParameter, parseParameter } from './params';
export type { IParameterField } from './params';
export type { IMessage, IRunOptions } from './runs';

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

export interface IModelOptions {
  /** Quiet time after the last edit before analyzing, in ms. */
  debounceMs?: number;
  /** Interval between two polls of a live run, in ms. */
  pollMs?: number;
  /** Interval between two "is a run in progress?" questions while idle, in ms. */
  idleMs?: number;
  /** How long after Cancel before saying a run could not be interrupted, in ms. */
  cancelPatienceMs?: number;
}

export class CellpipeModel {
  constructor(options: IModelOptions = {}) {
    this._debounceMs = options.debounceMs ?? 400;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const model = this;
    this.runs = new RunsModel(
      {
        get path() {
          return model.path;
        },
        save: async () => {
          await this._source?.save?.();
        },
        setMessage: message => this.setMessage(message),
        content: () => this._source?.toJSON(),
        parameters: () => this.parameters
      },
      {
        pollMs: options.pollMs,
        idleMs: options.idleMs,
        cancelPatienceMs: options.cancelPatienceMs
      }
    );
    this.runs.stateChanged.connect(this._emit, this);
    // A finished run changes what the analysis reports as each step's last run.
    this.runs.finished.connect(() => void this.analyze(), this);
  }

  /** Runs of the followed pipeline: live run, past runs, staleness. */
  readonly runs: RunsModel;

  // ------------------------------------------------------------ signals

  /** Any change of state: the views re-render. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** A new analysis arrived (or was cleared): the cell marks update. */
  get analysisChanged(): ISignal<this, IAnalyzeResponse | null> {
    return this._analysisChanged;
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

  /** A request in flight ('compile', 'run', 'compare'), or null. */
  get busy(): string | null {
    return this._busy ?? this.runs.busy;
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
    this._clearTimer();
    this._source = source;
    this._seq++;
    this._analysis = null;
    this._analyzeError = null;
    this._selectedStep = null;
    this._message = null;
    this.runs.reset();
    this._analysisChanged.emit(null);
    this._emit();
    if (source) {
      source.contentChanged.connect(this._onContentChanged, this);
      void this.analyze();
      void this.runs.refresh();
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
    this._clearTimer();
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
    this._clearTimer();
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
      // A refusal's diagnostics are the pipeline's old problems once it is valid.
      if (result.ok && this._message?.diagnostics?.length) {
        this._message = null;
      }
      if (
        this._selectedStep !== null &&
        !this.steps.some(s => s.name === this._selectedStep)
      ) {
        this._selectedStep = null;
      }
      this._analysisChanged.emit(result);
      // Stale flags follow the notebook as edited (and come back once an
      // error is fixed), compared with the last run's parameters.
      void this.runs.refreshStatus();
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

  /**
   * Export the pipeline for Kubeflow Pipelines ('kfp') or Argo Workflows
   * ('argo'); the server writes the YAML file (default: build/<notebook>.<kind>.yaml).
   */
  async exportTo(
    kind: ExportKind,
    output?: string
  ): Promise<IExportResponse | null> {
    const path = this.path;
    if (!path) {
      return null;
    }
    return this._withBusy('export', async () => {
      await this._source?.save?.();
      const result = await postJSON<IExportResponse>(
        'export',
        output ? { path, kind, output } : { path, kind }
      );
      const engine = kind === 'kfp' ? 'Kubeflow Pipelines' : 'Argo Workflows';
      const notes = result.notes.length
        ? ` Note: ${result.notes.join(' ')}`
        : '';
      this.setMessage({
        kind: 'info',
        text: `Exported ${result.steps} step(s) for ${engine} to ${result.path}.${notes}`
      });
      return result;
    });
  }

  /** The parameters a run can override, with their defaults. */
  get parameters(): IParameterField[] {
    return parametersOf(this._analysis?.pipeline ?? null);
  }

  // ------------------------------------------------------------ steps and runs

  /** Start a run (see RunsModel.start). */
  startRun(
    params: { [name: string]: JSONValue },
    options: IRunOptions = {}
  ): Promise<string | null> {
    return this.runs.start(params, options);
  }

  /**
   * The state a step shows: the live run's (`pending` until the run reaches
   * it), else its last run's.
   */
  stepState(step: string): StepState | null {
    return (
      this.runs.stepState(step) ?? this._analysis?.steps?.[step]?.state ?? null
    );
  }

  /** The live run's record of a step, if a run is shown. */
  stepRun(step: string): IStepRun | null {
    return this.runs.stepRun(step);
  }

  /** The step's error: the live run's record, else its last run's. */
  stepError(step: string): IStepError | null {
    const live = this.stepRun(step);
    if (live) {
      return live.error;
    }
    return this._analysis?.steps?.[step]?.error ?? null;
  }

  /** Where the step's output notebook is (live run first, then last run). */
  stepOutput(step: string): string | null {
    const live = this.stepRun(step);
    if (live) {
      return live.output_notebook;
    }
    if (this.runs.running) {
      return null; // not reached yet by the live run
    }
    return this._analysis?.steps?.[step]?.output_notebook ?? null;
  }

  /** The run whose output notebook a step links to, and where it is. */
  stepOutputRef(step: string): { runId: string; path: string } | null {
    const live = this.stepRun(step);
    const runId = this.runs.run?.run.id ?? this.runs.runId;
    if (live && runId) {
      return live.output_notebook
        ? { runId, path: live.output_notebook }
        : null;
    }
    if (this.runs.running) {
      return null; // not reached yet by the live run
    }
    const last = this._analysis?.steps?.[step];
    return last?.output_notebook && last.run_id
      ? { runId: last.run_id, path: last.output_notebook }
      : null;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this.setSource(null);
    this.runs.dispose();
    this._disposed = true;
    Signal.clearData(this);
  }

  // ------------------------------------------------------------ private

  private _onContentChanged(): void {
    this.scheduleAnalysis();
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
      this._message = failureMessage(
        `${what[0].toUpperCase()}${what.slice(1)}`,
        error
      );
      return null;
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  private _clearTimer(): void {
    if (this._debounce !== null) {
      clearTimeout(this._debounce);
      this._debounce = null;
    }
  }

  private _emit(): void {
    if (!this._disposed) {
      this._stateChanged.emit();
    }
  }

  private _debounceMs: number;
  private _debounce: ReturnType<typeof setTimeout> | null = null;
  private _seq = 0;
  private _disposed = false;
  private _source: INotebookSource | null = null;
  private _analysis: IAnalyzeResponse | null = null;
  private _analyzing = false;
  private _analyzeError: string | null = null;
  private _selectedStep: string | null = null;
  private _message: IMessage | null = null;
  private _busy: string | null = null;
  private _activeCellTags: string[] = [];
  private _activeCellIndex: number | null = null;
  private _stateChanged = new Signal<this, void>(this);
  private _analysisChanged = new Signal<this, IAnalyzeResponse | null>(this);
}
