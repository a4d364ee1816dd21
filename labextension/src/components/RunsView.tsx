import React from 'react';

import { IRunDiff, IRunRecord, JSONValue } from '../tokens';

export interface IRunsViewProps {
  runs: IRunRecord[];
  selected: string[];
  diff: IRunDiff | null;
  busy: boolean;
  onToggle: (id: string) => void;
  onCompare: () => void;
  onRefresh: () => void;
  /** Open the runs dashboard (main area). */
  onOpenDashboard?: () => void;
}

/** A timestamp from the server (ISO text or seconds since the epoch). */
export function formatTime(value: string | number | null): string {
  if (value === null || value === undefined || value === '') {
    return '';
  }
  const date =
    typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (isNaN(date.getTime())) {
    return String(value);
  }
  return date.toLocaleString();
}

function show(value: JSONValue | undefined): string {
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  }
  return value === undefined ? '' : JSON.stringify(value);
}

function flatParams(run: IRunRecord): string {
  const parts: string[] = [];
  const notebooks = Object.keys(run.params ?? {});
  for (const notebook of notebooks) {
    for (const [name, value] of Object.entries(run.params[notebook])) {
      parts.push(
        `${notebooks.length > 1 ? notebook + '.' : ''}${name}=${show(value)}`
      );
    }
  }
  return parts.join(' ');
}

function DiffTable(props: {
  title: string;
  rows: { [key: string]: [JSONValue, JSONValue] };
}): JSX.Element | null {
  const keys = Object.keys(props.rows ?? {});
  if (keys.length === 0) {
    return <div className="cp-Muted">{props.title}: no difference</div>;
  }
  return (
    <table className="cp-Table cp-Diff-table">
      <thead>
        <tr>
          <th>{props.title}</th>
          <th>A</th>
          <th>B</th>
        </tr>
      </thead>
      <tbody>
        {keys.map(key => {
          const pair = props.rows[key];
          return (
            <tr key={key}>
              <td>{key}</td>
              <td>{show(pair[0])}</td>
              <td>{show(pair[1])}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** This pipeline's runs; pick two to compare them. */
export function RunsView(props: IRunsViewProps): JSX.Element {
  return (
    <div className="cp-Section cp-Runs">
      <div className="cp-Section-title">
        Runs ({props.runs.length}){' '}
        <button className="cp-Chip" onClick={props.onRefresh}>
          refresh
        </button>{' '}
        <button
          className="cp-Chip cp-compare"
          disabled={props.selected.length !== 2 || props.busy}
          onClick={props.onCompare}
          title="Pick two runs, then compare them"
        >
          compare {props.selected.length}/2
        </button>{' '}
        {props.onOpenDashboard && (
          <button
            className="cp-Chip cp-open-dashboard"
            onClick={props.onOpenDashboard}
            title="Every run in a table in the main area: sort, filter, compare, plot, trace"
          >
            dashboard
          </button>
        )}
      </div>
      <table className="cp-Table">
        <thead>
          <tr>
            <th />
            <th>run</th>
            <th>started</th>
            <th>state</th>
            <th>parameters</th>
            <th>metrics</th>
          </tr>
        </thead>
        <tbody>
          {props.runs.map(run => (
            <tr key={run.id} className="cp-Run" data-run={run.id}>
              <td>
                <input
                  type="checkbox"
                  className="cp-Run-pick"
                  checked={props.selected.includes(run.id)}
                  onChange={() => props.onToggle(run.id)}
                />
              </td>
              <td className="cp-Run-id" title={run.git_commit ?? ''}>
                {run.id.slice(0, 12)}
              </td>
              <td>{formatTime(run.started)}</td>
              <td className={`cp-state-${run.state}`}>{run.state}</td>
              <td className="cp-Run-params">{flatParams(run)}</td>
              <td className="cp-Run-metrics">
                {(run.metrics ?? [])
                  .map(m => `${m.name}=${show(m.value)}`)
                  .join(' ')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.diff && (
        <div className="cp-Diff">
          <div className="cp-Section-title">
            {props.diff.a.slice(0, 12)} (A) → {props.diff.b.slice(0, 12)} (B)
          </div>
          <DiffTable title="parameter" rows={props.diff.params} />
          <DiffTable title="metric" rows={props.diff.metrics} />
          <DiffTable title="artifact" rows={props.diff.artifacts} />
        </div>
      )}
    </div>
  );
}
