/**
 * The runs dashboard's state: the runs of one pipeline (or of every pipeline
 * under the root), the table's sort, filter, selection and collapsed sweeps,
 * the comparison of the selected runs, the plot's choice and a trace. Requests
 * go through request.ts; the view renders this and calls its methods.
 */
import { IPoll, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { requestAPI } from '../request';
import { errorText } from '../runs';
import { ICompareResponse, IDashboard, IRunArtifacts, ITrace } from '../tokens';
import {
  buildRows,
  columnsOf,
  filterRows,
  groupRows,
  IColumn,
  IRow,
  ISort,
  numericColumns,
  sortRows,
  TableItem
} from './table';

export type Scope = 'pipeline' | 'all';

/** How often the table is reloaded: while a run is live, and otherwise. */
const LIVE_MS = 2000;
const IDLE_MS = 30000;

function frequency(interval: number): IPoll.Frequency {
  return { interval, backoff: true, max: 10 * IDLE_MS };
}

export class DashboardModel {
  constructor(path: string | null, options: { poll?: boolean } = {}) {
    this._path = path;
    this._scope = path === null ? 'all' : 'pipeline';
    if (options.poll ?? true) {
      // Reload while the dashboard is visible: fast while a run is live.
      this._poll = new Poll({
        auto: false,
        name: 'cellpipe:runs-dashboard',
        factory: () => this._load(),
        frequency: frequency(IDLE_MS),
        standby: 'when-hidden'
      });
      void this._poll.start();
    }
  }

  /** Whether a listed run is still starting or running. */
  get live(): boolean {
    return this._rows.some(
      r => r.state === 'running' || r.state === 'starting'
    );
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The notebook whose pipeline is shown (scope 'pipeline'). */
  get path(): string | null {
    return this._path;
  }

  get scope(): Scope {
    return this._scope;
  }

  get loading(): boolean {
    return this._loading;
  }

  get error(): string | null {
    return this._error;
  }

  get data(): IDashboard | null {
    return this._data;
  }

  get rows(): IRow[] {
    return this._rows;
  }

  get columns(): IColumn[] {
    return this._columns;
  }

  get sort(): ISort | null {
    return this._sort;
  }

  get filter(): string {
    return this._filter;
  }

  get selected(): string[] {
    return this._selected;
  }

  get collapsed(): ReadonlySet<string> {
    return this._collapsed;
  }

  /** The rows shown: filtered, sorted. */
  get visibleRows(): IRow[] {
    return sortRows(
      filterRows(this._rows, this._columns, this._filter),
      this._sort
    );
  }

  /** The table's lines (sweeps grouped). */
  get items(): TableItem[] {
    return groupRows(
      this.visibleRows,
      this._data?.sweeps ?? [],
      this._collapsed
    );
  }

  get metricColumns(): IColumn[] {
    return numericColumns(this._rows, this._columns).filter(
      c => c.kind === 'metric'
    );
  }

  get paramColumns(): IColumn[] {
    return this._columns.filter(c => c.kind === 'param');
  }

  get comparison(): ICompareResponse | null {
    return this._comparison;
  }

  get artifacts(): IRunArtifacts | null {
    return this._artifacts;
  }

  get trace(): ITrace | null {
    return this._trace;
  }

  /** Follow another notebook's pipeline. */
  setPath(path: string | null): void {
    if (path === this._path) {
      return;
    }
    this._path = path;
    if (path === null) {
      this._scope = 'all';
    }
    void this.refresh();
  }

  setScope(scope: Scope): void {
    if (
      scope === this._scope ||
      (scope === 'pipeline' && this._path === null)
    ) {
      return;
    }
    this._scope = scope;
    this._selected = [];
    this._comparison = null;
    void this.refresh();
  }

  /** Sort by a column; the same column again flips the direction. */
  sortBy(key: string): void {
    if (this._sort?.key === key) {
      this._sort = {
        key,
        direction: this._sort.direction === 'asc' ? 'desc' : 'asc'
      };
    } else {
      this._sort = { key, direction: key === 'started' ? 'desc' : 'asc' };
    }
    this._emit();
  }

  setFilter(text: string): void {
    this._filter = text;
    this._emit();
  }

  toggle(id: string): void {
    this._selected = this._selected.includes(id)
      ? this._selected.filter(r => r !== id)
      : [...this._selected, id];
    this._emit();
  }

  toggleSweep(id: string): void {
    const next = new Set(this._collapsed);
    if (next.has(id)) {
      next.delete(id);
    } else {
      next.add(id);
    }
    this._collapsed = next;
    this._emit();
  }

  /** Reload the runs now. */
  async refresh(): Promise<void> {
    this._loading = true;
    this._emit();
    await this._load();
  }

  private async _load(): Promise<void> {
    const query = new URLSearchParams();
    if (this._scope === 'all' || this._path === null) {
      query.set('scope', 'all');
    } else {
      query.set('path', this._path);
    }
    const ticket = ++this._ticket;
    try {
      const data = await requestAPI<IDashboard>(`dashboard?${query}`);
      if (ticket !== this._ticket || this._disposed) {
        return;
      }
      this._data = data;
      this._rows = buildRows(data.runs, Date.now() / 1000);
      this._columns = columnsOf(this._rows);
      const known = new Set(this._rows.map(r => r.id));
      this._selected = this._selected.filter(id => known.has(id));
      this._error = null;
    } catch (error) {
      if (ticket === this._ticket) {
        this._error = `Could not list the runs: ${errorText(error)}`;
      }
    } finally {
      if (ticket === this._ticket && !this._disposed) {
        this._loading = false;
        const wanted = this.live ? LIVE_MS : IDLE_MS;
        if (this._poll && this._poll.frequency.interval !== wanted) {
          this._poll.frequency = frequency(wanted);
        }
        this._emit();
      }
    }
  }

  /** Compare the selected runs, oldest first. */
  async compare(): Promise<void> {
    if (this._selected.length < 2) {
      return;
    }
    const started = new Map(this._rows.map(r => [r.id, r.started ?? 0]));
    const ids = [...this._selected].sort(
      (a, b) => (started.get(a) ?? 0) - (started.get(b) ?? 0)
    );
    const query = new URLSearchParams(ids.map(id => ['run', id]));
    try {
      this._comparison = await requestAPI<ICompareResponse>(`compare?${query}`);
      this._error = null;
    } catch (error) {
      this._error = `Compare failed: ${errorText(error)}`;
    }
    this._emit();
  }

  closeComparison(): void {
    this._comparison = null;
    this._emit();
  }

  /** List a run's artifacts, to pick one to trace. */
  async loadArtifacts(runId: string): Promise<void> {
    this._trace = null;
    try {
      this._artifacts = await requestAPI<IRunArtifacts>(
        `runs/${encodeURIComponent(runId)}/artifacts`
      );
      this._error = null;
    } catch (error) {
      this._artifacts = null;
      this._error = `Could not list the artifacts of ${runId}: ${errorText(error)}`;
    }
    this._emit();
  }

  /** The lineage of an artifact of a run's step. */
  async traceArtifact(
    runId: string,
    step: string,
    name: string,
    kind: string
  ): Promise<void> {
    const query = new URLSearchParams({ run: runId, step, name, kind });
    try {
      this._trace = await requestAPI<ITrace>(`trace?${query}`);
      this._error = null;
    } catch (error) {
      this._trace = null;
      this._error = `Trace failed: ${errorText(error)}`;
    }
    this._emit();
  }

  /** `cellpipe trace PATH` for a file under the server's root (root-relative). */
  async traceFile(path: string): Promise<void> {
    const query = new URLSearchParams({ path: path.trim() });
    try {
      this._trace = await requestAPI<ITrace>(`trace?${query}`);
      this._error = null;
    } catch (error) {
      this._trace = null;
      this._error = `Trace of ${path.trim()} failed: ${errorText(error)}`;
    }
    this._emit();
  }

  dispose(): void {
    this._disposed = true;
    this._poll?.dispose();
    Signal.clearData(this);
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _path: string | null;
  private _scope: Scope;
  private _loading = false;
  private _error: string | null = null;
  private _data: IDashboard | null = null;
  private _rows: IRow[] = [];
  private _columns: IColumn[] = [];
  private _sort: ISort | null = null;
  private _filter = '';
  private _selected: string[] = [];
  private _collapsed: ReadonlySet<string> = new Set();
  private _comparison: ICompareResponse | null = null;
  private _artifacts: IRunArtifacts | null = null;
  private _trace: ITrace | null = null;
  private _ticket = 0;
  private _poll: Poll | null = null;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}
