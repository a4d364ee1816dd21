/**
 * The pipeline view's model: the server's DAG (manifest steps, as the analyzer
 * answers for the example notebook) -> the elkjs input -> a layout; a step's
 * state -> the style of its node.
 */
import {
  dagOf,
  edgeLabel,
  formatSeconds,
  LAYOUT_OPTIONS,
  nodeStyle,
  nodeTime,
  shapeKey,
  shortPath,
  stepNodeId,
  toElkGraph
} from '../dag/graph';
import { layoutDag } from '../dag/layout';
import breastCancerSteps from './fixtures/breast_cancer.steps.json';
import { IManifestStep, IStepRun, StepState } from '../tokens';

// The analyzer's answer for example_notebooks/breast_cancer.ipynb (recorded
// from cellpipe.server.notebooks.analyze).
const EXAMPLE = breastCancerSteps as IManifestStep[];

function step(
  name: string,
  options: Partial<IManifestStep> = {}
): IManifestStep {
  return {
    name,
    notebook: 'work/nb.ipynb',
    notebook_file: `steps/${name}.ipynb`,
    cells: [],
    code_hash: 'h',
    inputs: { variables: [], files: [] },
    outputs: { variables: [], files: [] },
    changes_inputs: [],
    after: [],
    depends_on: [],
    parameters: [],
    metrics: [],
    imports: [],
    replays_settings: [],
    learned_changes: [],
    nocache: false,
    hints: {},
    ...options
  };
}

describe('the server DAG as a graph', () => {
  it('has one node per step of the example and its data edges', () => {
    const model = dagOf(EXAMPLE);
    const steps = model.nodes.filter(n => n.kind === 'step');
    expect(steps.map(n => n.label)).toEqual([
      'load',
      'clean',
      'features',
      'train_logreg',
      'train_forest',
      'evaluate',
      'report'
    ]);
    const edge = (a: string, b: string) =>
      model.edges.find(e => e.id === `${a}->${b}`);
    expect(edge('load', 'clean')?.labels).toEqual(['df_raw']);
    expect(edge('features', 'train_forest')?.labels).toEqual([
      'X_train',
      'y_train'
    ]);
    expect(edge('train_logreg', 'evaluate')?.labels).toEqual(['logreg']);
    expect(edge('load', 'report')).toBeUndefined();
    // One edge per pair of steps with a dependency, and every label is a
    // variable the consumer reads from that producer.
    const pairs = EXAMPLE.flatMap(s =>
      s.depends_on.map(d => `${d}->${s.name}`)
    );
    expect(
      model.edges
        .filter(e => e.kind !== 'file')
        .map(e => e.id)
        .sort()
    ).toEqual(pairs.sort());
    // The files nobody reads are the pipeline's results, drawn as file nodes.
    const files = model.nodes.filter(n => n.kind === 'file');
    expect(files.map(n => n.title).sort()).toEqual([
      'example_notebooks/data/clean.parquet',
      'example_notebooks/reports/metrics.json'
    ]);
    expect(files.map(n => n.label).sort()).toEqual([
      'data/clean.parquet',
      'reports/metrics.json'
    ]);
  });

  it('labels a file edge with the file, and marks an explicit after:', () => {
    const model = dagOf([
      step('fetch', { inputs: { variables: [], files: ['raw.csv'] } }),
      step('prep', {
        depends_on: ['fetch'],
        inputs: { variables: [], files: ['work/data/raw.parquet'] },
        outputs: { variables: [], files: ['work/clean.parquet'] }
      }),
      step('make', {
        outputs: { variables: [], files: ['work/data/raw.parquet'] }
      }),
      step('fit', {
        depends_on: ['prep'],
        after: ['fetch'],
        inputs: {
          variables: [{ name: 'X', from: 'prep' }],
          files: ['work/clean.parquet']
        }
      })
    ]);
    const byId = new Map(model.edges.map(e => [e.id, e]));
    expect(byId.get('make->prep')).toMatchObject({
      kind: 'data',
      labels: ['data/raw.parquet']
    });
    expect(byId.get('prep->fit')?.labels).toEqual(['X', 'clean.parquet']);
    expect(byId.get('fetch->fit')).toMatchObject({ kind: 'after', labels: [] });
    expect(byId.get('fetch->prep')).toMatchObject({ kind: 'after' });
    expect(byId.get('file:raw.csv->fetch')).toMatchObject({
      kind: 'file',
      source: 'file:raw.csv',
      target: stepNodeId('fetch')
    });
    expect(model.nodes.map(n => n.id)).toEqual([
      'step:fetch',
      'step:prep',
      'step:make',
      'step:fit',
      'file:raw.csv'
    ]);
  });

  it('ignores a dependency on a step that is not in the pipeline', () => {
    const model = dagOf([step('a', { after: ['nowhere'] })]);
    expect(model.edges).toEqual([]);
  });

  it.each([
    ['work/data/x.csv', 'work/nb.ipynb', 'data/x.csv'],
    ['other/deep/x.csv', 'work/nb.ipynb', '…/deep/x.csv'],
    ['x.csv', 'nb.ipynb', 'x.csv']
  ])('shows %p from %p as %p', (file, notebook, label) => {
    expect(shortPath(file, notebook)).toBe(label);
  });
});

describe('the elkjs input', () => {
  it('asks for the layered algorithm, with sized nodes and edge labels', () => {
    const input = toElkGraph(dagOf(EXAMPLE));
    expect(input.layoutOptions).toBe(LAYOUT_OPTIONS);
    expect(LAYOUT_OPTIONS['elk.algorithm']).toBe('layered');
    expect(input.children).toHaveLength(9);
    for (const child of input.children ?? []) {
      expect(child.width).toBeGreaterThan(0);
      expect(child.height).toBeGreaterThan(0);
    }
    const evaluate = input.edges?.find(e => e.id === 'features->evaluate');
    expect(evaluate?.sources).toEqual(['step:features']);
    expect(evaluate?.targets).toEqual(['step:evaluate']);
    expect(evaluate?.labels?.[0].text).toBe('X_test, X_test_s, y_test');
    expect(evaluate?.labels?.[0].width).toBeGreaterThan(100);
  });

  it('gives a long step name a wider node', () => {
    const input = toElkGraph(
      dagOf([step('a'), step('a_step_with_a_very_long_descriptive_name')])
    );
    const [short, long] = input.children ?? [];
    expect(long.width).toBeGreaterThan(short.width!);
  });

  it.each([
    [['a'], 'a'],
    [['a', 'b', 'c'], 'a, b, c'],
    [['a', 'b', 'c', 'd', 'e'], 'a, b, c +2']
  ])('labels an edge carrying %p as %p', (labels, text) => {
    expect(edgeLabel(labels)).toBe(text);
  });

  it('changes its shape key only when the drawing changes', () => {
    const key = shapeKey(dagOf(EXAMPLE));
    const same = EXAMPLE.map(s => ({ ...s, code_hash: 'edited' }));
    expect(shapeKey(dagOf(same))).toBe(key);
    expect(shapeKey(dagOf(EXAMPLE.slice(0, 3)))).not.toBe(key);
  });
});

describe('the layout', () => {
  it('puts every step below its producers, edges from box to box', async () => {
    const model = dagOf(EXAMPLE);
    const layout = await layoutDag(model);
    const box = new Map(layout.nodes.map(n => [n.id, n]));
    for (const s of EXAMPLE) {
      for (const dep of s.depends_on) {
        const a = box.get(stepNodeId(dep))!;
        const b = box.get(stepNodeId(s.name))!;
        expect(a.y + a.height).toBeLessThanOrEqual(b.y);
      }
    }
    for (const edge of layout.edges) {
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
      const start = edge.points[0];
      const source = box.get(edge.source)!;
      expect(start.y).toBeCloseTo(source.y + source.height, 0);
    }
    const labelled = layout.edges.find(e => e.id === 'load->clean');
    expect(labelled?.label?.text).toBe('df_raw');
    expect(layout.height).toBeGreaterThan(4 * 58);
    // No two nodes overlap.
    for (const a of layout.nodes) {
      for (const b of layout.nodes) {
        if (a !== b) {
          const apart =
            a.x + a.width <= b.x ||
            b.x + b.width <= a.x ||
            a.y + a.height <= b.y ||
            b.y + b.height <= a.y;
          expect(apart).toBe(true);
        }
      }
    }
  });

  it('lays out an empty pipeline as nothing', async () => {
    expect(await layoutDag({ nodes: [], edges: [] })).toEqual({
      width: 0,
      height: 0,
      nodes: [],
      edges: []
    });
  });
});

describe('node style from state', () => {
  it.each<[StepState | null, string, boolean, boolean, string]>([
    [null, 'not run', true, false, '--jp-ui-font-color3'],
    ['pending', 'pending', true, false, '--jp-ui-font-color2'],
    ['running', 'running', false, false, '--jp-brand-color1'],
    ['done', 'done', false, false, '--jp-success-color1'],
    ['cached', 'cached', false, false, '--jp-success-color'],
    ['failed', 'failed', false, false, '--jp-error-color1'],
    ['check_failed', 'check failed', false, false, '--jp-error-color1'],
    ['skipped', 'skipped', false, true, '--jp-ui-font-color3'],
    ['interrupted', 'interrupted', false, true, '--jp-warn-color1']
  ])(
    '%p: badge %p, dashed %p, muted %p',
    (state, badge, dashed, muted, colour) => {
      const style = nodeStyle(state);
      expect(style.badge).toBe(badge);
      expect(style.dashed).toBe(dashed);
      expect(style.muted).toBe(muted);
      expect(style.badgeColor).toContain(colour);
      expect(style.className).toContain(`cp-DagNode-state-${state ?? 'none'}`);
    }
  );
});

describe('timings on nodes', () => {
  it.each([
    [null, ''],
    [0.42, '0.4 s'],
    [12.4, '12 s'],
    [125, '2 min 05 s'],
    [3720, '1 h 02 min']
  ])('%p seconds read %p', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });

  const run = (state: StepState, seconds: number | null): IStepRun => ({
    step: 's',
    notebook: 'nb.ipynb',
    state,
    started: 1,
    finished: null,
    seconds,
    error: null,
    output_notebook: null,
    cached_from: null,
    warnings: []
  });

  it('counts up while running, from the last answer', () => {
    expect(nodeTime(run('running', 3), 1500)).toBe('4.5 s');
    expect(nodeTime(run('done', 3), 1500)).toBe('3.0 s');
    expect(nodeTime(run('cached', 0.01))).toBe('');
    expect(nodeTime(run('pending', null))).toBe('');
    expect(nodeTime(null)).toBe('');
  });
});
