/**
 * The runs dashboard's table, as data: one row per run, one column per
 * parameter and metric name (the union over the runs), sorting by any column,
 * filtering by text, and sweeps grouped with their trials. Pure: no DOM, no
 * requests.
 */
import {
  IDashboardRun,
  IRunRecord,
  ISweepSummary,
  JSONValue,
  RunState
} from '../tokens';

export type ColumnKind = 'fixed' | 'param' | 'metric';

export interface IColumn {
  /** Unique: `id`, `state`..., `param:<notebook>:<name>`, `metric:<step>.<name>`. */
  key: string;
  /** What the header shows (the bare name unless two notebooks or steps share it). */
  label: string;
  kind: ColumnKind;
  /** The full name, for the header's tooltip. */
  title: string;
}

export interface IChecksSummary {
  passed: number;
  failed: number;
  /** The failed checks' `step: message`. */
  failures: string[];
}

export interface IRow {
  id: string;
  state: RunState;
  started: number | null;
  /** Seconds from start to finish (to now for a live run); null when unknown. */
  duration: number | null;
  pipeline: string | null;
  project: string | null;
  git_commit: string | null;
  sweep: string | null;
  trial: number | null;
  /** Column key -> value, for parameters and metrics. */
  values: { [key: string]: JSONValue };
  checks: IChecksSummary | null;
  record: IRunRecord;
}

/** The columns every table has, before the parameters and metrics. */
export const FIXED_COLUMNS: IColumn[] = [
  { key: 'id', label: 'run', kind: 'fixed', title: 'run id' },
  { key: 'state', label: 'state', kind: 'fixed', title: 'state' },
  { key: 'started', label: 'started', kind: 'fixed', title: 'start time' },
  { key: 'duration', label: 'duration', kind: 'fixed', title: 'seconds' },
  { key: 'git_commit', label: 'commit', kind: 'fixed', title: 'git commit' },
  { key: 'checks', label: 'checks', kind: 'fixed', title: 'checks' }
];

export function paramKey(notebook: string, name: string): string {
  return `param:${notebook}:${name}`;
}

export function metricKey(step: string, name: string): string {
  return `metric:${step}.${name}`;
}

/** Rows from the server's answer; `now` (seconds) times the live runs. */
export function buildRows(runs: IDashboardRun[], now?: number): IRow[] {
  return runs.map(item => {
    const run = item.run;
    const values: { [key: string]: JSONValue } = {};
    for (const [notebook, params] of Object.entries(run.params ?? {})) {
      for (const [name, value] of Object.entries(params ?? {})) {
        values[paramKey(notebook, name)] = value;
      }
    }
    for (const m of run.metrics ?? []) {
      values[metricKey(m.step, m.name)] = m.value;
    }
    let duration: number | null = null;
    if (run.started !== null) {
      const end =
        run.finished ??
        (run.state === 'running' || run.state === 'starting'
          ? (now ?? null)
          : null);
      duration = end === null ? null : Math.max(0, end - run.started);
    }
    const checks = item.checks ?? [];
    const failed = checks.filter(c => !c.passed);
    return {
      id: run.id,
      state: run.state,
      started: run.started,
      duration,
      pipeline: run.pipeline,
      project: item.project,
      git_commit: run.git_commit,
      sweep: item.sweep,
      trial: item.trial,
      values,
      checks:
        checks.length === 0
          ? null
          : {
              passed: checks.length - failed.length,
              failed: failed.length,
              failures: failed.map(c => `${c.step}: ${c.message}`)
            },
      record: run
    };
  });
}

/** Labels: the bare name, unless another column of this kind has it too. */
function labelled(
  keys: string[],
  kind: ColumnKind,
  split: (key: string) => [string, string],
  sep: string
): IColumn[] {
  const count = new Map<string, number>();
  for (const key of keys) {
    const name = split(key)[1];
    count.set(name, (count.get(name) ?? 0) + 1);
  }
  return keys.map(key => {
    const [owner, name] = split(key);
    const full = `${owner}${sep}${name}`;
    return {
      key,
      kind,
      label: (count.get(name) ?? 0) > 1 ? full : name,
      title: `${kind === 'param' ? 'parameter' : 'metric'} ${full}`
    };
  });
}

function splitParam(key: string): [string, string] {
  const rest = key.slice('param:'.length);
  const at = rest.lastIndexOf(':');
  return [rest.slice(0, at), rest.slice(at + 1)];
}

function splitMetric(key: string): [string, string] {
  const rest = key.slice('metric:'.length);
  const at = rest.indexOf('.');
  return [rest.slice(0, at), rest.slice(at + 1)];
}

/** Fixed columns, then every parameter, then every metric any row has (sorted by label). */
export function columnsOf(rows: IRow[]): IColumn[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  for (const row of rows) {
    for (const key of Object.keys(row.values)) {
      (key.startsWith('param:') ? params : metrics).add(key);
    }
  }
  const byLabel = (a: IColumn, b: IColumn) =>
    a.label.localeCompare(b.label) || a.key.localeCompare(b.key);
  return [
    ...FIXED_COLUMNS,
    ...labelled([...params], 'param', splitParam, ':').sort(byLabel),
    ...labelled([...metrics], 'metric', splitMetric, '.').sort(byLabel)
  ];
}

/** The value of a row in a column (undefined: the run has none). */
export function cellValue(row: IRow, key: string): JSONValue | undefined {
  switch (key) {
    case 'id':
      return row.id;
    case 'state':
      return row.state;
    case 'started':
      return row.started;
    case 'duration':
      return row.duration;
    case 'git_commit':
      return row.git_commit;
    case 'checks':
      return row.checks === null
        ? null
        : `${row.checks.passed}/${row.checks.passed + row.checks.failed}`;
    default:
      return row.values[key];
  }
}

/** A value as the table shows it (fractions to 6 significant digits, no trailing zeros). */
export function formatValue(value: JSONValue | undefined): string {
  if (value === undefined || value === null) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? String(value)
      : String(Number(value.toPrecision(6)));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** A duration in seconds as `0.8 s`, `12 s`, `3 min 4 s`, `1 h 2 min`. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) {
    return '';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${s % 60} s`;
  }
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The text a cell shows (what the filter matches). */
export function cellText(row: IRow, key: string): string {
  if (key === 'started') {
    return row.started === null
      ? ''
      : new Date(row.started * 1000).toLocaleString();
  }
  if (key === 'duration') {
    return formatDuration(row.duration);
  }
  return formatValue(cellValue(row, key));
}

export type SortDirection = 'asc' | 'desc';

export interface ISort {
  key: string;
  direction: SortDirection;
}

/**
 * Order two cell values: missing last whatever the direction, numbers (and
 * booleans) by value before text, text in natural order ("run2" < "run10").
 */
export function compareValues(
  a: JSONValue | undefined,
  b: JSONValue | undefined,
  direction: SortDirection = 'asc'
): number {
  const missingA = a === undefined || a === null;
  const missingB = b === undefined || b === null;
  if (missingA || missingB) {
    return missingA === missingB ? 0 : missingA ? 1 : -1;
  }
  const sign = direction === 'asc' ? 1 : -1;
  const numA = typeof a === 'number' || typeof a === 'boolean';
  const numB = typeof b === 'number' || typeof b === 'boolean';
  if (numA && numB) {
    return sign * (Number(a) - Number(b));
  }
  if (numA !== numB) {
    return numA ? -1 : 1;
  }
  const textA = typeof a === 'string' ? a : JSON.stringify(a);
  const textB = typeof b === 'string' ? b : JSON.stringify(b);
  return (
    sign *
    textA.localeCompare(textB, undefined, {
      numeric: true,
      sensitivity: 'base'
    })
  );
}

/** The rows sorted by a column (stable: equal values keep their order). */
export function sortRows(rows: IRow[], sort: ISort | null): IRow[] {
  if (sort === null) {
    return [...rows];
  }
  return rows
    .map((row, index) => ({ row, index }))
    .sort(
      (x, y) =>
        compareValues(
          cellValue(x.row, sort.key),
          cellValue(y.row, sort.key),
          sort.direction
        ) || x.index - y.index
    )
    .map(x => x.row);
}

/**
 * The rows whose text matches every word of `text` (case-insensitive). A word
 * `name=value` (or `name:value`) matches that column only: `lr=0.1`, `state:failed`.
 */
export function filterRows(
  rows: IRow[],
  columns: IColumn[],
  text: string
): IRow[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return rows;
  }
  const matchers = words.map(word => {
    const m = /^([^=:]+)[=:](.*)$/.exec(word);
    const targets = m
      ? columns.filter(c => c.label.toLowerCase() === m[1])
      : [];
    if (m && targets.length > 0) {
      return (row: IRow) =>
        targets.some(c => cellText(row, c.key).toLowerCase() === m[2]);
    }
    return (row: IRow) =>
      columns.some(c => cellText(row, c.key).toLowerCase().includes(word)) ||
      (row.sweep ?? '').toLowerCase().includes(word) ||
      (row.project ?? '').toLowerCase().includes(word);
  });
  return rows.filter(row => matchers.every(match => match(row)));
}

export type TableItem =
  | { kind: 'run'; row: IRow; inSweep: boolean }
  | {
      kind: 'sweep';
      sweep: ISweepSummary | null;
      id: string;
      rows: IRow[];
      collapsed: boolean;
    };

/**
 * The table's lines: runs in the given order, each sweep's trials gathered
 * under one header placed where its first trial comes, in the same order; the
 * trials follow their header unless the sweep is collapsed.
 */
export function groupRows(
  rows: IRow[],
  sweeps: ISweepSummary[],
  collapsed: ReadonlySet<string>
): TableItem[] {
  const known = new Map(sweeps.map(s => [s.id, s]));
  const members = new Map<string, IRow[]>();
  for (const row of rows) {
    if (row.sweep !== null) {
      const list = members.get(row.sweep) ?? [];
      list.push(row);
      members.set(row.sweep, list);
    }
  }
  const items: TableItem[] = [];
  const placed = new Set<string>();
  for (const row of rows) {
    if (row.sweep === null) {
      items.push({ kind: 'run', row, inSweep: false });
      continue;
    }
    if (placed.has(row.sweep)) {
      continue;
    }
    placed.add(row.sweep);
    const trials = members.get(row.sweep) ?? [];
    const isCollapsed = collapsed.has(row.sweep);
    items.push({
      kind: 'sweep',
      id: row.sweep,
      sweep: known.get(row.sweep) ?? null,
      rows: trials,
      collapsed: isCollapsed
    });
    if (!isCollapsed) {
      for (const trial of trials) {
        items.push({ kind: 'run', row: trial, inSweep: true });
      }
    }
  }
  return items;
}

/** Columns whose values are all numbers (booleans count) where present: plottable. */
export function numericColumns(rows: IRow[], columns: IColumn[]): IColumn[] {
  return columns.filter(column => {
    if (column.kind === 'fixed') {
      return false;
    }
    let seen = false;
    for (const row of rows) {
      const value = row.values[column.key];
      if (value === undefined || value === null) {
        continue;
      }
      if (typeof value !== 'number' && typeof value !== 'boolean') {
        return false;
      }
      seen = true;
    }
    return seen;
  });
}

export interface IBest {
  metric: string;
  direction: 'maximize' | 'minimize';
  run: string;
  trial: number | null;
  value: number;
}

/** The metric column a sweep objective names (`name` or `step.name`). */
export function objectiveColumn(
  columns: IColumn[],
  metric: string
): IColumn | null {
  const metrics = columns.filter(c => c.kind === 'metric');
  return (
    metrics.find(c => c.key === `metric:${metric}`) ??
    metrics.find(c => splitMetric(c.key)[1] === metric) ??
    null
  );
}

/** A sweep's best trial among `rows` by its first objective; null without one. */
export function bestTrial(
  rows: IRow[],
  sweep: ISweepSummary | null,
  columns: IColumn[]
): IBest | null {
  const objective = sweep?.objectives?.[0];
  const metric = objective?.metric;
  if (typeof metric !== 'string') {
    return null;
  }
  const direction =
    objective?.direction === 'minimize' ? 'minimize' : 'maximize';
  const column = objectiveColumn(columns, metric);
  if (column === null) {
    return null;
  }
  let best: IBest | null = null;
  for (const row of rows) {
    const value = row.values[column.key];
    if (typeof value !== 'number' || row.state !== 'succeeded') {
      continue;
    }
    if (
      best === null ||
      (direction === 'maximize' ? value > best.value : value < best.value)
    ) {
      best = { metric, direction, run: row.id, trial: row.trial, value };
    }
  }
  return best;
}
