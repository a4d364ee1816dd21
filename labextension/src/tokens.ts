/**
 * Identifiers and the wire types of the cellpipe server extension.
 *
 * The interfaces mirror the JSON the Python handlers under `<baseUrl>/cellpipe/`
 * send and receive, with the same names and fields (snake_case on the wire) as
 * the TypedDicts in `python_pkg/cellpipe/server/wire.py`; `tests/test_wire.py`
 * fails when the two sides drift. `StepState` and `RunState` are the values of
 * the Python enums `cellpipe.model.StepState` and `RunState`.
 */

/** The plugin id, also the prefix of command ids. */
export const PLUGIN_ID = 'cellpipe:plugin';

/** Command ids registered by the extension. */
export namespace CommandIDs {
  export const openPanel = 'cellpipe:open-panel';
  export const openPipeline = 'cellpipe:open-pipeline';
  export const newStep = 'cellpipe:new-step';
  export const addToStep = 'cellpipe:add-to-step';
  export const markRole = 'cellpipe:mark-role';
  export const declareFile = 'cellpipe:declare-file';
  export const addDependency = 'cellpipe:add-dependency';
  export const removeTag = 'cellpipe:remove-tag';
  export const validate = 'cellpipe:validate';
  export const compile = 'cellpipe:compile';
  export const run = 'cellpipe:run';
  export const openRuns = 'cellpipe:open-runs';
}

/** A JSON value as it travels on the wire. */
export type JSONValue =
  string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

// ---------------------------------------------------------------- analyze

export type Severity = 'error' | 'warning';

/** One problem found by the analyzer (same checks as `cellpipe validate`). */
export interface IDiagnostic {
  severity: Severity;
  code: string;
  message: string;
  /** Null for a problem of the whole pipeline. */
  notebook: string | null;
  /** 0-based index of the cell in the notebook, or null for notebook-wide problems. */
  cell: number | null;
  /** 1-based cell number, as printed by the CLI. */
  cell_number: number | null;
  cell_id: string | null;
  line: number | null;
  fix: string;
}

export interface IParameterSchema {
  /** Absent: any value; else one JSON type or several (`["string", "null"]`). */
  type?: string | string[];
}

export interface IParameterSpec {
  default: JSONValue;
  schema: IParameterSchema;
  /** The annotation as written in the parameters cell. */
  annotation?: string;
  /** The default as a Python literal (`1.0` where JSON says `1`). */
  literal?: string;
}

export interface IManifestNotebook {
  path: string;
  parameters: { [name: string]: IParameterSpec };
  /** 0-based index of the parameters cell. */
  parameters_cell: number | null;
  /** 0-based indexes of the `imports` and `functions` cells, in order. */
  shared_cells: number[];
  settings: { [key: string]: JSONValue };
}

export interface IStepCell {
  /** 0-based index in the source notebook. */
  index: number;
  /** 1-based number, as shown to users. */
  number: number;
  id: string | null;
  type: 'code' | 'markdown' | 'raw' | string;
}

export interface IVariableInput {
  name: string;
  from: string;
}

export interface IVariableOutput {
  name: string;
  to: string[];
}

export interface IStepInputs {
  variables: IVariableInput[];
  files: string[];
}

export interface IStepOutputs {
  variables: IVariableOutput[];
  files: string[];
}

/** A process-wide setting made by an earlier step, run again before this one. */
export interface IReplayedSetting {
  /** 1-based number of the cell that made it. */
  cell: number;
  statement: string;
}

/** An in-place change a run saw and the analysis did not: later steps read it after this one. */
export interface ILearnedChange {
  name: string;
  /** The run that learned it. */
  run: string;
}

export interface IManifestStep {
  name: string;
  notebook: string;
  /** The compiled step notebook, relative to the build folder. */
  notebook_file: string;
  cells: IStepCell[];
  code_hash: string;
  inputs: IStepInputs;
  outputs: IStepOutputs;
  /** Inputs the step changes in place, as the analysis sees it. */
  changes_inputs: string[];
  after: string[];
  depends_on: string[];
  parameters: string[];
  metrics: string[];
  imports: string[];
  replays_settings: IReplayedSetting[];
  learned_changes: ILearnedChange[];
  nocache: boolean;
  hints: { [key: string]: JSONValue };
}

/** The compiled pipeline manifest (`pipeline.json`). */
export interface IManifest {
  cellpipe_manifest: number;
  name: string;
  notebooks: IManifestNotebook[];
  steps: IManifestStep[];
  settings: { [key: string]: JSONValue };
}

/** The last run of a step, as reported by `analyze`. */
export interface IStepLastRun {
  state: StepState;
  run_id: string;
  error: IStepError | null;
  output_notebook: string | null;
}

export interface IAnalyzeRequest {
  path: string;
  /** The notebook's current, possibly unsaved, JSON (`model.toJSON()`). */
  content?: JSONValue;
}

export interface IAnalyzeResponse {
  path: string;
  pipeline: IManifest | null;
  diagnostics: IDiagnostic[];
  steps: { [step: string]: IStepLastRun };
  ok: boolean;
}

// ---------------------------------------------------------------- compile

export interface ICompileRequest {
  path: string;
  output?: string;
}

export interface ICompileResponse {
  output: string;
  files: string[];
}

// ---------------------------------------------------------------- export

/** The engines `cellpipe export` writes for. */
export type ExportKind = 'kfp' | 'argo';

export interface IExportRequest {
  path: string;
  kind: ExportKind;
  output?: string;
  image?: string;
}

/** What an export wrote (cellpipe.engine.export.ExportReport, path root-relative). */
export interface IExportResponse {
  path: string;
  kind: string;
  steps: number;
  parameters: string[];
  notes: string[];
}

// ---------------------------------------------------------------- runs

export type RunState =
  'starting' | 'running' | 'succeeded' | 'failed' | 'interrupted';

export type StepState =
  | 'pending'
  | 'running'
  | 'cached'
  | 'done'
  | 'failed'
  | 'check_failed'
  | 'skipped'
  | 'interrupted';

export interface IRunRequest {
  path: string;
  params: { [name: string]: JSONValue };
  force?: boolean;
  /** Run only these steps (and what they need). */
  only?: string[];
  /** Run these steps and everything downstream of them. */
  from?: string[];
}

export interface IRunStarted {
  run_id: string;
}

export interface IMetric {
  step: string;
  name: string;
  value: JSONValue;
}

export interface IRunRecord {
  id: string;
  pipeline: string | null;
  state: RunState;
  /** Seconds since the epoch. */
  started: number | null;
  finished: number | null;
  /** Parameters by notebook, then by name. */
  params: { [notebook: string]: { [name: string]: JSONValue } };
  metrics: IMetric[];
  git_commit: string | null;
  notebooks: string[];
  /** Why a run ended before writing its record. */
  error: string | null;
}

/** One check of a `check` cell (cellpipe.checks), as a failed step records it. */
export interface ICheckResult {
  name: string;
  passed: boolean;
  message: string;
  /** 1-based cell number in the source notebook. */
  cell?: number | null;
  line?: number | null;
  details?: { [key: string]: JSONValue };
}

/** An earlier attempt of a step tagged `retry:N` that failed. */
export interface IStepAttempt {
  attempt: number;
  message: string;
  seconds: number | null;
  output_notebook: string | null;
}

export interface IStepError {
  message: string;
  ename?: string | null;
  evalue?: string | null;
  role?: string | null;
  /** The checks of a step that ended `check_failed` (passed ones included). */
  checks?: ICheckResult[];
  /** 1-based line of the failing source cell, and its text. */
  line?: number | null;
  code?: string | null;
  /** The traceback's last frames, without colours, cells named as in the source notebook. */
  traceback?: string[];
  attempts?: IStepAttempt[];
  notebook: string | null;
  /** 1-based cell number in the source notebook. */
  cell: number | null;
  cell_id: string | null;
}

export interface IStepRun {
  step: string;
  notebook: string;
  state: StepState;
  /** Seconds since the epoch. */
  started: number | null;
  finished: number | null;
  seconds: number | null;
  error: IStepError | null;
  /** Output notebook, relative to the server root. */
  output_notebook: string | null;
  cached_from: string | null;
  warnings: string[];
}

export interface IRunsResponse {
  runs: IRunRecord[];
}

export interface IRunDetail {
  run: IRunRecord;
  steps: IStepRun[];
  active: boolean;
}

/** The run in progress for a notebook (`GET runs/active?path=P`), or null. */
export interface IActiveRun {
  run: IRunDetail | null;
}

/** Only what differs between runs `a` and `b`, as [value in a, value in b]. */
export interface IRunDiff {
  a: string;
  b: string;
  /** Keyed "notebook:name". */
  params: { [key: string]: [JSONValue, JSONValue] };
  /** Keyed "step.name". */
  metrics: { [key: string]: [JSONValue, JSONValue] };
  /** Keyed "step:kind:name", values are content hashes. */
  artifacts: { [key: string]: [JSONValue, JSONValue] };
}

/** A step's output notebook, as the server read it. */
// ---------------------------------------------------------------- dashboard

/** One check result of a run's step (`check` cells). */
export interface IRunCheck {
  step: string;
  name: string;
  passed: boolean;
  message: string;
}

export interface IDashboardRun {
  run: IRunRecord;
  /** The run's project folder, root-relative ("" for the root; null outside it). */
  project: string | null;
  /** The sweep this run is a trial of, and the trial's number. */
  sweep: string | null;
  trial: number | null;
  checks: IRunCheck[];
}

export interface ISweepSummary {
  id: string;
  kind: string;
  state: string;
  created: number;
  trials: number;
  objectives: { [key: string]: JSONValue }[];
}

/** GET /cellpipe/dashboard[?path=P&scope=all]. */
export interface IDashboard {
  scope: 'pipeline' | 'all';
  runs: IDashboardRun[];
  sweeps: ISweepSummary[];
}

export interface IArtifactValue {
  hash: string;
  size: number | null;
  format: string | null;
}

export interface IArtifact {
  step: string;
  kind: string;
  name: string;
  hash: string;
  size: number | null;
  format: string | null;
}

/** GET /cellpipe/runs/<id>/artifacts. */
export interface IRunArtifacts {
  run_id: string;
  artifacts: IArtifact[];
}

export interface ICompareRow {
  name: string;
  /** One value per compared run, in order (null where a run has none). */
  values: JSONValue[];
  changed: boolean;
}

export interface ICompareArtifact {
  step: string;
  kind: string;
  name: string;
  values: (IArtifactValue | null)[];
  changed: boolean;
}

/** GET /cellpipe/compare?run=A&run=B... */
export interface ICompareResponse {
  runs: IRunRecord[];
  params: ICompareRow[];
  metrics: ICompareRow[];
  artifacts: ICompareArtifact[];
}

/** GET /cellpipe/trace?run=ID&step=S[&name=N] or ?path=P: `cellpipe trace`'s answer. */
export interface ITrace {
  /** The traced file (root-relative) or artifact name; null for a step's outputs. */
  path: string | null;
  hash: string | null;
  run: string;
  step: string;
  notebook: string;
  started: number | null;
  git_commit: string | null;
  git_dirty: boolean;
  code_key: string | null;
  code_cells: JSONValue;
  parameters: JSONValue;
  input_variables: JSONValue;
  input_files: JSONValue;
  files_read: JSONValue;
  modules: JSONValue;
  environment: JSONValue;
  output_notebook: string | null;
}

export interface IStepNotebook {
  /** Relative to the server root. */
  path: string;
  content: { [key: string]: JSONValue };
}

/** The body of an error answer (400, 403, 404). */
export interface IError {
  message: string;
  diagnostics?: IDiagnostic[];
}

// ---------------------------------------------------------------- status

export interface IStepStatus {
  step: string;
  notebook: string;
  up_to_date: boolean;
  reason: string;
  last_run: string | null;
}

/** `POST status`: the unsaved notebook and the parameters to compare with. */
export interface IStatusRequest {
  path: string;
  content?: JSONValue;
  params?: { [key: string]: JSONValue };
}

export interface IStatusResponse {
  steps: IStepStatus[];
}
