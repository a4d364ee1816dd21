/**
 * Vega-Lite specs for the dashboard's plots: a metric across runs (by start
 * time) or against a parameter. Rendered by JupyterLab's own Vega renderer
 * (`@jupyterlab/vega5-extension`) through the rendermime registry. Pure.
 */
import { JSONObject } from '@lumino/coreutils';

import { IColumn, IRow } from './table';

/** The mime type JupyterLab's Vega renderer takes for Vega-Lite 5. */
export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';

/** Pixels between the plot's edges and the outermost points. */
const PADDING = 12;

/** The x axis: the runs' start time, or a parameter column's key. */
export const BY_TIME = 'started';

export interface IPlotChoice {
  /** A metric column. */
  metric: IColumn;
  /** A parameter column, or null for the start time. */
  x: IColumn | null;
  width?: number;
  height?: number;
}

export interface IPlotPoint {
  run: string;
  x: number | string | boolean;
  y: number;
  sweep: string;
  state: string;
  [key: string]: string | number | boolean;
}

/** The runs that have a number for the metric and a value for x. */
export function plotPoints(rows: IRow[], choice: IPlotChoice): IPlotPoint[] {
  const points: IPlotPoint[] = [];
  for (const row of rows) {
    const y = row.values[choice.metric.key];
    if (typeof y !== 'number' && typeof y !== 'boolean') {
      continue;
    }
    let x: number | string | boolean;
    if (choice.x === null) {
      if (row.started === null) {
        continue;
      }
      x = row.started * 1000;
    } else {
      const value = row.values[choice.x.key];
      if (value === undefined || value === null) {
        continue;
      }
      x =
        typeof value === 'number' ||
        typeof value === 'boolean' ||
        typeof value === 'string'
          ? value
          : JSON.stringify(value);
    }
    points.push({
      run: row.id,
      x,
      y: Number(y),
      sweep: row.sweep ?? 'no sweep',
      state: row.state
    });
  }
  return points;
}

/**
 * The Vega-Lite spec of the chosen plot, or null when no run has both values.
 * Time: a line through the runs in start order with a point per run; a
 * numeric parameter: points on a quantitative axis; any other parameter: an
 * ordinal axis. Colour tells the sweeps apart; the tooltip names the run.
 */
export function plotSpec(rows: IRow[], choice: IPlotChoice): JSONObject | null {
  const points = plotPoints(rows, choice);
  if (points.length === 0) {
    return null;
  }
  const xIsNumber = points.every(p => typeof p.x === 'number');
  const xType =
    choice.x === null ? 'temporal' : xIsNumber ? 'quantitative' : 'ordinal';
  const xTitle = choice.x === null ? 'run started' : choice.x.label;
  const sweeps = new Set(points.map(p => p.sweep));
  const encoding: JSONObject = {
    x: {
      field: 'x',
      type: xType,
      title: xTitle,
      ...(xType === 'quantitative'
        ? { scale: { zero: false, padding: PADDING } }
        : xType === 'temporal'
          ? { scale: { padding: PADDING } }
          : {})
    },
    y: {
      field: 'y',
      type: 'quantitative',
      title: choice.metric.label,
      scale: { zero: false, padding: PADDING }
    },
    tooltip: [
      { field: 'run', type: 'nominal', title: 'run' },
      {
        field: 'x',
        type: xType,
        title: xTitle,
        ...(xType === 'temporal' ? { format: '%Y-%m-%d %H:%M:%S' } : {})
      },
      { field: 'y', type: 'quantitative', title: choice.metric.label },
      { field: 'state', type: 'nominal', title: 'state' }
    ]
  };
  if (sweeps.size > 1) {
    encoding.color = { field: 'sweep', type: 'nominal', title: 'sweep' };
  }
  const point = { type: 'point', filled: true, size: 70 };
  const mark: JSONObject = choice.x === null ? { type: 'line', point } : point;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: `${choice.metric.title} against ${xTitle}`,
    width: choice.width ?? 560,
    height: choice.height ?? 300,
    data: { values: points as unknown as JSONObject[] },
    mark,
    encoding
  };
}
