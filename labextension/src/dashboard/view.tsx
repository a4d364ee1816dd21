/**
 * The runs dashboard in the main area: the runs table (sort, filter, select,
 * sweeps grouped), the comparison of the selected runs, a plot of a metric
 * (Vega-Lite through JupyterLab's renderer) and the trace of an artifact.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import React, { useEffect, useRef, useState } from 'react';

import { ICompareResponse, IRunArtifacts, ITrace, JSONValue } from '../tokens';
import { DashboardModel } from './model';
import { BY_TIME, plotSpec, VEGALITE_MIME } from './plot';
import {
  bestTrial,
  cellText,
  formatValue,
  IBest,
  IColumn,
  IRow,
  TableItem
} from './table';

export interface IDashboardHost {
  rendermime: IRenderMimeRegistry | null;
  /** Open a step's output notebook of a run. */
  openOutput: (runId: string, step: string, path: string) => void;
}

function Header(props: { model: DashboardModel }): JSX.Element {
  const { model } = props;
  const where =
    model.scope === 'all' || model.path === null
      ? 'every pipeline under the root'
      : model.path;
  return (
    <div className="cp-Dash-toolbar">
      <span className="cp-Dash-title">
        Runs of <b>{where}</b> ({model.visibleRows.length}
        {model.visibleRows.length !== model.rows.length
          ? ` of ${model.rows.length}`
          : ''}
        )
      </span>
      <label className="cp-Dash-scope">
        <input
          type="checkbox"
          checked={model.scope === 'all'}
          disabled={model.path === null}
          onChange={e => model.setScope(e.target.checked ? 'all' : 'pipeline')}
        />{' '}
        all pipelines
      </label>
      <input
        className="cp-Dash-filter"
        type="search"
        placeholder="filter: text, or name=value (state=failed, n=4)"
        value={model.filter}
        onChange={e => model.setFilter(e.target.value)}
      />
      <button
        className="cp-Chip cp-Dash-refresh"
        onClick={() => void model.refresh()}
        disabled={model.loading}
      >
        {model.loading ? 'loading…' : 'refresh'}
      </button>
      <button
        className="cp-Chip cp-Dash-compare"
        disabled={model.selected.length < 2}
        onClick={() => void model.compare()}
        title="Select two runs or more, then compare them"
      >
        compare {model.selected.length} selected
      </button>
    </div>
  );
}

function Cell(props: { row: IRow; column: IColumn }): JSX.Element {
  const { row, column } = props;
  const text = cellText(row, column.key);
  if (column.key === 'state') {
    return <td className={`cp-Dash-state cp-state-${row.state}`}>{text}</td>;
  }
  if (column.key === 'checks' && row.checks) {
    return (
      <td
        className={
          row.checks.failed ? 'cp-Dash-checks-failed' : 'cp-Dash-checks-ok'
        }
        title={row.checks.failures.join('\n')}
      >
        {text}
      </td>
    );
  }
  if (column.key === 'git_commit') {
    return (
      <td className="cp-Dash-mono" title={text}>
        {text.slice(0, 10)}
      </td>
    );
  }
  if (column.key === 'id') {
    return (
      <td className="cp-Dash-mono cp-Dash-id" title={row.project ?? ''}>
        {text}
      </td>
    );
  }
  return (
    <td className={`cp-Dash-${column.kind}`} data-col={column.key} title={text}>
      {text}
    </td>
  );
}

function Best(props: { best: IBest | null }): JSX.Element | null {
  const { best } = props;
  if (best === null) {
    return null;
  }
  return (
    <span className="cp-Dash-best">
      {' '}
      · best {best.metric} ({best.direction}): {formatValue(best.value)}, trial{' '}
      {best.trial ?? '?'}
    </span>
  );
}

function RunsTable(props: { model: DashboardModel }): JSX.Element {
  const { model } = props;
  const columns = model.columns;
  const sort = model.sort;
  const items: TableItem[] = model.items;
  return (
    <div className="cp-Dash-tableWrap">
      <table className="cp-Dash-table">
        <thead>
          <tr>
            <th />
            {columns.map(c => (
              <th
                key={c.key}
                className={`cp-Dash-th cp-Dash-th-${c.kind}`}
                data-col={c.key}
                aria-sort={
                  sort?.key === c.key
                    ? sort.direction === 'asc'
                      ? 'ascending'
                      : 'descending'
                    : 'none'
                }
                title={`${c.title} (click to sort)`}
                onClick={() => model.sortBy(c.key)}
              >
                {c.label}
                {sort?.key === c.key
                  ? sort.direction === 'asc'
                    ? ' ▲'
                    : ' ▼'
                  : ''}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {items.map(item =>
            item.kind === 'sweep' ? (
              <tr
                key={`sweep-${item.id}`}
                className="cp-Dash-sweep"
                data-sweep={item.id}
              >
                <td colSpan={columns.length + 1}>
                  <button
                    className="cp-Dash-sweepToggle"
                    onClick={() => model.toggleSweep(item.id)}
                    aria-expanded={!item.collapsed}
                  >
                    {item.collapsed ? '▶' : '▼'}
                  </button>{' '}
                  sweep <span className="cp-Dash-mono">{item.id}</span>
                  {item.sweep
                    ? ` (${item.sweep.kind}, ${item.sweep.state})`
                    : ''}{' '}
                  — {item.rows.length} trial{item.rows.length === 1 ? '' : 's'}
                  {item.sweep && item.sweep.trials !== item.rows.length
                    ? ` shown of ${item.sweep.trials}`
                    : ''}
                  <Best best={bestTrial(item.rows, item.sweep, columns)} />
                </td>
              </tr>
            ) : (
              <tr
                key={item.row.id}
                className={`cp-Dash-run${item.inSweep ? ' cp-Dash-trial' : ''}${
                  model.selected.includes(item.row.id) ? ' cp-mod-selected' : ''
                }`}
                data-run={item.row.id}
              >
                <td>
                  <input
                    type="checkbox"
                    className="cp-Dash-pick"
                    aria-label={`select run ${item.row.id}`}
                    checked={model.selected.includes(item.row.id)}
                    onChange={() => model.toggle(item.row.id)}
                  />
                </td>
                {columns.map(c => (
                  <Cell key={c.key} row={item.row} column={c} />
                ))}
              </tr>
            )
          )}
        </tbody>
      </table>
      {items.length === 0 && !model.loading && (
        <div className="cp-Muted cp-Dash-empty">
          {model.rows.length === 0
            ? 'No runs recorded yet: run the pipeline from the panel or with `cellpipe run`.'
            : 'No run matches the filter.'}
        </div>
      )}
    </div>
  );
}

function show(value: JSONValue | undefined): string {
  return formatValue(value);
}

function bytes(size: number | null): string {
  if (size === null) {
    return '';
  }
  if (size < 1024) {
    return `${size} B`;
  }
  if (size < 1024 * 1024) {
    return `${(size / 1024).toFixed(1)} KiB`;
  }
  return `${(size / 1024 / 1024).toFixed(1)} MiB`;
}

function CompareView(props: {
  comparison: ICompareResponse;
  onClose: () => void;
}): JSX.Element {
  const { comparison } = props;
  const runs = comparison.runs;
  const [onlyChanged, setOnlyChanged] = useState(false);
  const head = (
    <tr>
      <th />
      {runs.map(r => (
        <th key={r.id} className="cp-Dash-mono">
          {r.id}
        </th>
      ))}
    </tr>
  );
  const section = (title: string, rows: typeof comparison.params) => {
    const shown = rows.filter(r => !onlyChanged || r.changed);
    return (
      <>
        <tr className="cp-Dash-cmpSection">
          <td colSpan={runs.length + 1}>
            {title} ({rows.filter(r => r.changed).length} of {rows.length}{' '}
            differ)
          </td>
        </tr>
        {shown.map(row => (
          <tr
            key={`${title}-${row.name}`}
            className={row.changed ? 'cp-Dash-changed' : 'cp-Dash-same'}
            data-name={row.name}
          >
            <td>{row.name}</td>
            {row.values.map((v, i) => (
              <td key={i}>{show(v)}</td>
            ))}
          </tr>
        ))}
      </>
    );
  };
  const artifacts = comparison.artifacts.filter(a => !onlyChanged || a.changed);
  return (
    <div className="cp-Dash-section cp-Dash-compareView">
      <div className="cp-Dash-sectionTitle">
        Comparing {runs.length} runs{' '}
        <label>
          <input
            type="checkbox"
            checked={onlyChanged}
            onChange={e => setOnlyChanged(e.target.checked)}
          />{' '}
          only differences
        </label>{' '}
        <button className="cp-Chip" onClick={props.onClose}>
          close
        </button>
      </div>
      <table className="cp-Dash-table cp-Dash-cmp">
        <thead>{head}</thead>
        <tbody>
          {section('parameters', comparison.params)}
          {section('metrics', comparison.metrics)}
          <tr className="cp-Dash-cmpSection">
            <td colSpan={runs.length + 1}>
              artifacts ({comparison.artifacts.filter(a => a.changed).length} of{' '}
              {comparison.artifacts.length} differ)
            </td>
          </tr>
          {artifacts.map(a => (
            <tr
              key={`${a.step}:${a.kind}:${a.name}`}
              className={a.changed ? 'cp-Dash-changed' : 'cp-Dash-same'}
              data-name={`${a.step}:${a.name}`}
            >
              <td>
                {a.step} · {a.kind} <b>{a.name}</b>
              </td>
              {a.values.map((v, i) => (
                <td key={i} className="cp-Dash-mono" title={v?.hash ?? 'none'}>
                  {v ? `${v.hash.slice(0, 10)} · ${bytes(v.size)}` : '—'}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** JupyterLab's theme ('true' when light), following theme switches. */
function useThemeLight(): string {
  const read = () => document.body.dataset.jpThemeLight ?? 'true';
  const [light, setLight] = useState(read);
  useEffect(() => {
    const observer = new MutationObserver(() => setLight(read()));
    observer.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-light']
    });
    return () => observer.disconnect();
  }, []);
  return light;
}

/**
 * A Vega-Lite spec rendered by JupyterLab's own renderer (which picks Vega's
 * dark theme in a dark JupyterLab), re-rendered when the spec or the theme changes.
 */
function VegaView(props: {
  rendermime: IRenderMimeRegistry;
  spec: object;
}): JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  const text = JSON.stringify(props.spec);
  const light = useThemeLight();
  useEffect(() => {
    const node = host.current;
    if (!node) {
      return;
    }
    const renderer = props.rendermime.createRenderer(VEGALITE_MIME);
    const model = new MimeModel({
      data: { [VEGALITE_MIME]: JSON.parse(text) }
    });
    let live = true;
    void renderer.renderModel(model).then(() => {
      if (live) {
        Widget.attach(renderer, node);
      }
    });
    return () => {
      live = false;
      if (renderer.isAttached) {
        Widget.detach(renderer);
      }
      renderer.dispose();
    };
  }, [text, light, props.rendermime]);
  return <div className="cp-Dash-vega" ref={host} />;
}

function PlotView(props: {
  model: DashboardModel;
  rendermime: IRenderMimeRegistry | null;
}): JSX.Element {
  const { model, rendermime } = props;
  const metrics = model.metricColumns;
  const params = model.paramColumns;
  const [metricKey, setMetric] = useState<string>('');
  const [xKey, setX] = useState<string>(BY_TIME);
  const metric = metrics.find(c => c.key === metricKey) ?? metrics[0] ?? null;
  const x = params.find(c => c.key === xKey) ?? null;
  const spec = metric ? plotSpec(model.visibleRows, { metric, x }) : null;
  const canRender =
    rendermime !== null && rendermime.mimeTypes.includes(VEGALITE_MIME);
  return (
    <div className="cp-Dash-section cp-Dash-plot">
      <div className="cp-Dash-sectionTitle">
        Plot{' '}
        <select
          className="cp-Dash-plotMetric"
          aria-label="metric"
          value={metric?.key ?? ''}
          onChange={e => setMetric(e.target.value)}
        >
          {metrics.map(c => (
            <option key={c.key} value={c.key}>
              {c.label}
            </option>
          ))}
        </select>{' '}
        against{' '}
        <select
          className="cp-Dash-plotX"
          aria-label="x axis"
          value={x?.key ?? BY_TIME}
          onChange={e => setX(e.target.value)}
        >
          <option value={BY_TIME}>start time</option>
          {params.map(c => (
            <option key={c.key} value={c.key}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      {metric === null ? (
        <div className="cp-Muted">
          No numeric metric recorded by these runs.
        </div>
      ) : !canRender ? (
        <div className="cp-Muted">
          JupyterLab's Vega renderer ({VEGALITE_MIME}) is not available: enable
          @jupyterlab/vega5-extension to see plots.
        </div>
      ) : spec === null ? (
        <div className="cp-Muted">No shown run has both values.</div>
      ) : (
        <VegaView rendermime={rendermime!} spec={spec} />
      )}
    </div>
  );
}

function Lineage(props: {
  trace: ITrace;
  openOutput: (runId: string, step: string, path: string) => void;
}): JSX.Element {
  const t = props.trace;
  const mapping = (value: JSONValue) => {
    if (value === null || value === undefined) {
      return <span className="cp-Muted">none</span>;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      return <span className="cp-Dash-mono">{show(value)}</span>;
    }
    const entries = Object.entries(value);
    if (entries.length === 0) {
      return <span className="cp-Muted">none</span>;
    }
    return (
      <ul className="cp-Dash-kv">
        {entries.map(([k, v]) => (
          <li key={k}>
            {k} = <span className="cp-Dash-mono">{show(v)}</span>
          </li>
        ))}
      </ul>
    );
  };
  const rows: [string, JSX.Element][] = [
    [
      'artifact',
      <span className="cp-Dash-mono">{t.path ?? '(step outputs)'}</span>
    ],
    ['content hash', <span className="cp-Dash-mono">{t.hash ?? ''}</span>],
    ['made by run', <span className="cp-Dash-mono">{t.run}</span>],
    [
      'step',
      <span>
        {t.step} of {t.notebook} (cells {show(t.code_cells)})
      </span>
    ],
    [
      'commit',
      <span className="cp-Dash-mono">
        {t.git_commit ?? '-'}
        {t.git_dirty ? ' with uncommitted changes' : ''}
      </span>
    ],
    ['step key', <span className="cp-Dash-mono">{t.code_key ?? ''}</span>],
    ['parameters', mapping(t.parameters)],
    ['input variables', mapping(t.input_variables)],
    ['input files', mapping(t.input_files)],
    ['files read at run time', mapping(t.files_read)],
    ['local modules', mapping(t.modules)],
    ['environment', mapping(t.environment)]
  ];
  return (
    <table className="cp-Dash-table cp-Dash-lineage">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{v}</td>
          </tr>
        ))}
        {t.output_notebook && (
          <tr>
            <th>output notebook</th>
            <td>
              <button
                className="cp-Chip"
                onClick={() =>
                  props.openOutput(t.run, t.step, t.output_notebook!)
                }
              >
                {t.output_notebook}
              </button>
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function TraceView(props: {
  model: DashboardModel;
  openOutput: (runId: string, step: string, path: string) => void;
}): JSX.Element {
  const { model } = props;
  const runs = model.visibleRows;
  const [runId, setRun] = useState<string>('');
  const [file, setFile] = useState<string>('');
  const chosen = runs.find(r => r.id === runId)?.id ?? '';
  const artifacts: IRunArtifacts | null =
    model.artifacts && model.artifacts.run_id === chosen
      ? model.artifacts
      : null;
  return (
    <div className="cp-Dash-section cp-Dash-trace">
      <div className="cp-Dash-sectionTitle">
        Trace: run{' '}
        <select
          className="cp-Dash-traceRun"
          aria-label="run to trace"
          value={chosen}
          onChange={e => {
            setRun(e.target.value);
            if (e.target.value) {
              void model.loadArtifacts(e.target.value);
            }
          }}
        >
          <option value="">choose a run…</option>
          {runs.map(r => (
            <option key={r.id} value={r.id}>
              {r.id}
            </option>
          ))}
        </select>{' '}
        artifact{' '}
        <select
          className="cp-Dash-traceArtifact"
          aria-label="artifact to trace"
          disabled={!artifacts}
          value=""
          onChange={e => {
            const a = artifacts?.artifacts[Number(e.target.value)];
            if (a) {
              void model.traceArtifact(chosen, a.step, a.name, a.kind);
            }
          }}
        >
          <option value="">
            {artifacts
              ? artifacts.artifacts.length
                ? 'choose an artifact…'
                : 'this run recorded none'
              : '—'}
          </option>
          {(artifacts?.artifacts ?? []).map((a, i) => (
            <option key={`${a.step}:${a.kind}:${a.name}`} value={i}>
              {a.step} · {a.kind} · {a.name}
            </option>
          ))}
        </select>
      </div>
      <form
        className="cp-Dash-sectionTitle cp-Dash-traceFileForm"
        onSubmit={e => {
          e.preventDefault();
          if (file.trim()) {
            void model.traceFile(file);
          }
        }}
      >
        or a file{' '}
        <input
          className="cp-Dash-traceFile"
          type="text"
          aria-label="file to trace"
          placeholder="path under the root, e.g. project/out/report.csv"
          value={file}
          onChange={e => setFile(e.target.value)}
        />{' '}
        <button className="cp-Chip" type="submit" disabled={!file.trim()}>
          trace
        </button>
      </form>
      {model.trace && (
        <Lineage trace={model.trace} openOutput={props.openOutput} />
      )}
    </div>
  );
}

function DashboardView(props: {
  model: DashboardModel;
  host: IDashboardHost;
}): JSX.Element {
  const { model, host } = props;
  return (
    <div className="cp-Dash">
      <Header model={model} />
      {model.error && <div className="cp-Dash-error">{model.error}</div>}
      <RunsTable model={model} />
      {model.comparison && (
        <CompareView
          comparison={model.comparison}
          onClose={() => model.closeComparison()}
        />
      )}
      <div className="cp-Dash-lower">
        <PlotView model={model} rendermime={host.rendermime} />
        <TraceView model={model} openOutput={host.openOutput} />
      </div>
    </div>
  );
}

/** The dashboard's content widget: re-renders on every model change. */
export class DashboardContent extends ReactWidget {
  constructor(
    readonly model: DashboardModel,
    private readonly host: IDashboardHost
  ) {
    super();
    this.addClass('cp-Dash-content');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <DashboardView model={this.model} host={this.host} />}
      </UseSignal>
    );
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}

/** The runs dashboard as a main-area widget. */
export function dashboardWidget(
  model: DashboardModel,
  host: IDashboardHost
): MainAreaWidget<DashboardContent> {
  const content = new DashboardContent(model, host);
  const widget = new MainAreaWidget({ content });
  widget.id = 'cellpipe-runs-dashboard';
  widget.title.label = 'cellpipe runs';
  widget.title.closable = true;
  widget.addClass('cp-Dash-widget');
  return widget;
}
