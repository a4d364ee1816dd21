import { plotPoints, plotSpec, VEGALITE_MIME } from '../dashboard/plot';
import {
  bestTrial,
  buildRows,
  cellText,
  columnsOf,
  compareValues,
  filterRows,
  formatDuration,
  formatValue,
  groupRows,
  IColumn,
  metricKey,
  numericColumns,
  paramKey,
  sortRows
} from '../dashboard/table';
import { IDashboardRun, ISweepSummary, JSONValue } from '../tokens';

/** A run as GET /cellpipe/dashboard sends it. */
function run(
  id: string,
  started: number,
  params: { [name: string]: JSONValue },
  metrics: { [name: string]: JSONValue },
  extra: Partial<IDashboardRun> = {}
): IDashboardRun {
  return {
    run: {
      id,
      pipeline: 'flow',
      state: 'succeeded',
      started,
      finished: started + 12.5,
      params: { 'flow.ipynb': params },
      metrics: Object.entries(metrics).map(([name, value]) => ({
        step: 'train',
        name,
        value
      })),
      git_commit: 'abcdef0123456789',
      notebooks: ['flow.ipynb'],
      error: null
    },
    project: 'flow',
    sweep: null,
    trial: null,
    checks: [],
    ...extra
  };
}

const RUNS: IDashboardRun[] = [
  run('20261201-090000-aaaa', 1000, { lr: 0.1, model: 'tree' }, { acc: 0.9 }),
  run(
    '20261201-090100-bbbb',
    1100,
    { lr: 0.01, model: 'forest' },
    { acc: 0.75, loss: 2 }
  ),
  run(
    '20261201-090200-cccc',
    1200,
    { lr: 1, model: 'tree' },
    { acc: 0.8 },
    {
      sweep: 's-1',
      trial: 0,
      checks: [
        { step: 'train', name: 'acc', passed: true, message: '' },
        { step: 'train', name: 'size', passed: false, message: 'too small' }
      ]
    }
  ),
  run(
    '20261201-090300-dddd',
    1300,
    { lr: 2, model: 'tree' },
    {},
    {
      sweep: 's-1',
      trial: 1
    }
  )
];
const SWEEPS: ISweepSummary[] = [
  {
    id: 's-1',
    kind: 'grid',
    state: 'succeeded',
    created: 1150,
    trials: 2,
    objectives: [{ metric: 'acc', direction: 'maximize' }]
  }
];

const col = (columns: IColumn[], label: string) =>
  columns.find(c => c.label === label)!;

describe('the runs table', () => {
  const rows = buildRows(RUNS);
  const columns = columnsOf(rows);

  it('has one column per parameter and metric name, the union over the runs', () => {
    expect(columns.map(c => `${c.kind}:${c.label}`)).toEqual([
      'fixed:run',
      'fixed:state',
      'fixed:started',
      'fixed:duration',
      'fixed:commit',
      'fixed:checks',
      'param:lr',
      'param:model',
      'metric:acc',
      'metric:loss'
    ]);
    expect(col(columns, 'lr').key).toBe(paramKey('flow.ipynb', 'lr'));
    expect(col(columns, 'loss').key).toBe(metricKey('train', 'loss'));
  });

  it('names a column by notebook or step only when two share a name', () => {
    const two = buildRows([
      run('a', 1, { n: 1 }, {}),
      {
        ...run('b', 2, {}, {}),
        run: {
          ...run('b', 2, {}, {}).run,
          params: { 'other.ipynb': { n: 2 } },
          metrics: [
            { step: 'x', name: 'm', value: 1 },
            { step: 'y', name: 'm', value: 2 }
          ]
        }
      }
    ]);
    expect(
      columnsOf(two)
        .slice(6)
        .map(c => c.label)
    ).toEqual(['flow.ipynb:n', 'other.ipynb:n', 'x.m', 'y.m']);
  });

  it('shows full run ids, durations, commits and check results', () => {
    expect(cellText(rows[0], 'id')).toBe('20261201-090000-aaaa');
    expect(cellText(rows[0], 'duration')).toBe('13 s');
    expect(cellText(rows[2], 'checks')).toBe('1/2');
    expect(rows[2].checks!.failures).toEqual(['train: too small']);
    expect(cellText(rows[0], 'checks')).toBe('');
    expect(cellText(rows[1], paramKey('flow.ipynb', 'lr'))).toBe('0.01');
    expect(formatValue(2 / 3)).toBe('0.666667');
    expect(formatValue({ a: [1] })).toBe('{"a":[1]}');
    expect(formatDuration(0.84)).toBe('0.8 s');
    expect(formatDuration(184)).toBe('3 min 4 s');
    expect(formatDuration(3720)).toBe('1 h 2 min');
  });

  it('times a live run up to now', () => {
    const live = run('live', 100, {}, {});
    live.run.state = 'running';
    live.run.finished = null;
    expect(buildRows([live], 130)[0].duration).toBe(30);
    expect(buildRows([live])[0].duration).toBeNull();
  });

  it('sorts numerically by a metric, missing values last in both directions', () => {
    const acc = col(columns, 'acc').key;
    const up = sortRows(rows, { key: acc, direction: 'asc' });
    expect(up.map(r => r.id.slice(-4))).toEqual([
      'bbbb',
      'cccc',
      'aaaa',
      'dddd'
    ]);
    const down = sortRows(rows, { key: acc, direction: 'desc' });
    expect(down.map(r => r.id.slice(-4))).toEqual([
      'aaaa',
      'cccc',
      'bbbb',
      'dddd'
    ]);
  });

  it('sorts a numeric parameter by value, not as text (2 after 0.1, 1 before 2)', () => {
    const lr = col(columns, 'lr').key;
    expect(
      sortRows(rows, { key: lr, direction: 'asc' }).map(r => r.values[lr])
    ).toEqual([0.01, 0.1, 1, 2]);
  });

  it('sorts text naturally and keeps equal rows in order', () => {
    const model = col(columns, 'model').key;
    expect(
      sortRows(rows, { key: model, direction: 'asc' }).map(r => r.id.slice(-4))
    ).toEqual(['bbbb', 'aaaa', 'cccc', 'dddd']);
    expect(compareValues('run2', 'run10')).toBeLessThan(0);
    expect(compareValues(3, 'a')).toBeLessThan(0);
    expect(compareValues(null, 1, 'desc')).toBeGreaterThan(0);
    expect(
      sortRows(rows, { key: 'started', direction: 'desc' }).map(r => r.started)
    ).toEqual([1300, 1200, 1100, 1000]);
  });

  it('filters by any text, case-insensitive, every word must match', () => {
    expect(filterRows(rows, columns, 'FOREST').map(r => r.id)).toEqual([
      '20261201-090100-bbbb'
    ]);
    expect(filterRows(rows, columns, 'tree cccc').map(r => r.id)).toEqual([
      '20261201-090200-cccc'
    ]);
    expect(filterRows(rows, columns, '  ')).toHaveLength(4);
    expect(filterRows(rows, columns, 'nothing-like-this')).toHaveLength(0);
  });

  it('filters name=value on that column only', () => {
    expect(filterRows(rows, columns, 'lr=1').map(r => r.id.slice(-4))).toEqual([
      'cccc'
    ]);
    expect(filterRows(rows, columns, 'state:succeeded')).toHaveLength(4);
    expect(
      filterRows(rows, columns, 'model=tree lr=2').map(r => r.id.slice(-4))
    ).toEqual(['dddd']);
  });

  it('groups a sweep’s trials under one header where its first trial comes', () => {
    const items = groupRows(
      sortRows(rows, { key: 'started', direction: 'desc' }),
      SWEEPS,
      new Set()
    );
    expect(
      items.map(i =>
        i.kind === 'sweep' ? `sweep ${i.id}` : i.row.id.slice(-4)
      )
    ).toEqual(['sweep s-1', 'dddd', 'cccc', 'bbbb', 'aaaa']);
    const header = items[0];
    expect(header.kind === 'sweep' && header.sweep?.kind).toBe('grid');
    expect(items[1].kind === 'run' && items[1].inSweep).toBe(true);
  });

  it('hides a collapsed sweep’s trials but keeps its header', () => {
    const items = groupRows(rows, SWEEPS, new Set(['s-1']));
    expect(
      items.map(i =>
        i.kind === 'sweep' ? `sweep ${i.id}` : i.row.id.slice(-4)
      )
    ).toEqual(['aaaa', 'bbbb', 'sweep s-1']);
    const header = items[2];
    expect(header.kind === 'sweep' && header.rows.length).toBe(2);
  });

  it('names a sweep’s best trial by its objective', () => {
    const trials = rows.filter(r => r.sweep === 's-1');
    expect(bestTrial(trials, SWEEPS[0], columns)).toEqual({
      metric: 'acc',
      direction: 'maximize',
      run: '20261201-090200-cccc',
      trial: 0,
      value: 0.8
    });
    const minimize = {
      ...SWEEPS[0],
      objectives: [{ metric: 'train.acc', direction: 'minimize' }]
    };
    expect(bestTrial(rows, minimize, columns)!.value).toBe(0.75);
    expect(
      bestTrial(trials, { ...SWEEPS[0], objectives: [] }, columns)
    ).toBeNull();
  });

  it('offers only numeric metrics and parameters for plots', () => {
    expect(numericColumns(rows, columns).map(c => c.label)).toEqual([
      'lr',
      'acc',
      'loss'
    ]);
  });
});

describe('the Vega-Lite plots', () => {
  const rows = buildRows(RUNS);
  const columns = columnsOf(rows);
  const acc = col(columns, 'acc');

  it('plots a metric by start time as a line through the runs', () => {
    const spec = plotSpec(rows, { metric: acc, x: null })!;
    expect(spec.$schema).toBe(
      'https://vega.github.io/schema/vega-lite/v5.json'
    );
    expect((spec.mark as any).type).toBe('line');
    expect((spec.encoding as any).x).toEqual({
      field: 'x',
      type: 'temporal',
      title: 'run started',
      scale: { padding: 12 }
    });
    expect((spec.encoding as any).y.title).toBe('acc');
    // the run without the metric is left out; times in milliseconds
    expect((spec.data as any).values.map((p: any) => [p.x, p.y])).toEqual([
      [1000000, 0.9],
      [1100000, 0.75],
      [1200000, 0.8]
    ]);
    expect(VEGALITE_MIME).toBe('application/vnd.vegalite.v5+json');
  });

  it('plots a metric against a numeric parameter as points on a quantitative axis', () => {
    const spec = plotSpec(rows, { metric: acc, x: col(columns, 'lr') })!;
    expect((spec.mark as any).type).toBe('point');
    expect((spec.encoding as any).x.type).toBe('quantitative');
    expect((spec.encoding as any).x.title).toBe('lr');
    expect((spec.encoding as any).tooltip[0]).toEqual({
      field: 'run',
      type: 'nominal',
      title: 'run'
    });
    // two sweeps ("no sweep" and s-1): colour tells them apart
    expect((spec.encoding as any).color.field).toBe('sweep');
  });

  it('uses an ordinal axis for a text parameter', () => {
    const spec = plotSpec(rows, { metric: acc, x: col(columns, 'model') })!;
    expect((spec.encoding as any).x.type).toBe('ordinal');
    expect(
      plotPoints(rows, { metric: acc, x: col(columns, 'model') }).map(p => p.x)
    ).toEqual(['tree', 'forest', 'tree']);
  });

  it('has no spec when no run has both values', () => {
    expect(plotSpec(rows.slice(3), { metric: acc, x: null })).toBeNull();
  });
});
