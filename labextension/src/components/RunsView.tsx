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
      <ul className="cp-RunList">
        {props.runs.map(run => (
          <li key={run.id} className="cp-Run" data-run={run.id}>
            <div className="cp-Run-head">
              <input
                type="checkbox"
                className="cp-Run-pick"
                aria-label={`select run ${run.id}`}
                checked={props.selected.includes(run.id)}
                onChange={() => props.onToggle(run.id)}
              />
              <span
                className="cp-Run-id"
                title={run.git_commit ? `commit ${run.git_commit}` : run.id}
              >
                {run.id}
              </span>
              <span className={`cp-Run-state cp-state-${run.state}`}>
                {run.state}
              </span>
            </div>
            <div className="cp-Run-when">{formatTime(run.started)}</div>
            {flatParams(run) && (
              <div className="cp-Run-params">{flatParams(run)}</div>
            )}
            <div className="cp-Run-metrics">
              {(run.metrics ?? [])
                .map(m => `${m.name}=${show(m.value)}`)
                .join(' ')}
            </div>
          </li>
        ))}
      </ul>
      {props.diff && (
        <div className="cp-Diff">
          <div className="cp-Section-title">
            {props.diff.a} (A) → {props.diff.b} (B)
          </div>
          <DiffTable title="parameter" rows={props.diff.params} />
          <DiffTable title="metric" rows={props.diff.metrics} />
          <DiffTable title="artifact" rows={props.diff.artifacts} />
        </div>
      )}
    </div>
  );
}
