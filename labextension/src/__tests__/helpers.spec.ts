import { relativeTo } from '../components/StepList';
import { formatTime } from '../components/RunsView';
import { withoutOutputs } from '../follower';
import { colourOfStep } from '../colours';
import { sameNotebook } from '../notebook';
import { formatParameter, parametersOf } from '../params';
import { summary } from '../runs';

describe('what the panel sends and shows', () => {
  it('sends the notebook to the analyzer without outputs', () => {
    const notebook = {
      metadata: { kernelspec: { name: 'python3' } },
      cells: [
        {
          cell_type: 'code',
          source: 'x = 1',
          metadata: { tags: ['step:a'] },
          outputs: [{ output_type: 'stream', text: 'big' }],
          execution_count: 3
        },
        { cell_type: 'markdown', source: '# title', metadata: {} }
      ]
    };
    expect(withoutOutputs(notebook)).toEqual({
      metadata: { kernelspec: { name: 'python3' } },
      cells: [
        {
          cell_type: 'code',
          source: 'x = 1',
          metadata: { tags: ['step:a'] },
          outputs: [],
          execution_count: null
        },
        { cell_type: 'markdown', source: '# title', metadata: {} }
      ]
    });
  });

  it('gives each step of a pipeline its own colour', () => {
    const steps = ['load', 'clean', 'features', 'train', 'evaluate', 'report'];
    const colours = new Set(steps.map(name => colourOfStep(steps, name)));
    expect(colours.size).toBe(steps.length);
    expect(colourOfStep(steps, 'train')).toBe(colourOfStep(steps, 'train'));
    expect(colourOfStep(steps, 'unknown')).toContain('var(--jp-');
  });

  it('matches server notebook paths to the open notebook', () => {
    expect(sameNotebook('nb/a.ipynb', 'nb/a.ipynb')).toBe(true);
    expect(sameNotebook('a.ipynb', 'nb/a.ipynb')).toBe(true);
    expect(sameNotebook('nb/b.ipynb', 'nb/a.ipynb')).toBe(false);
    expect(sameNotebook(null, 'nb/a.ipynb')).toBe(true);
  });

  it('shows files relative to the step’s notebook', () => {
    expect(relativeTo('proj/data/clean.parquet', 'proj/nb.ipynb')).toBe(
      'data/clean.parquet'
    );
    expect(relativeTo('other/x.csv', 'proj/nb.ipynb')).toBe('other/x.csv');
    expect(relativeTo('x.csv', 'nb.ipynb')).toBe('x.csv');
  });

  it('formats times and parameter values', () => {
    expect(formatTime(null)).toBe('');
    expect(formatTime(0)).not.toBe('');
    expect(formatTime('not a date')).toBe('not a date');
    expect(formatParameter(null)).toBe('None');
    expect(formatParameter(0.25)).toBe('0.25');
    expect(formatParameter('abc')).toBe('abc');
  });

  it('lists every notebook’s parameters with defaults', () => {
    expect(
      parametersOf({
        cellpipe_manifest: 1,
        name: 'p',
        settings: {},
        steps: [],
        notebooks: [
          {
            path: 'a.ipynb',
            parameters: { n: { default: 1, schema: { type: 'integer' } } },
            parameters_cell: 0,
            shared_cells: [],
            settings: {}
          },
          {
            path: 'b.ipynb',
            parameters: { n: { default: 2, schema: { type: 'integer' } } },
            parameters_cell: 0,
            shared_cells: [],
            settings: {}
          }
        ]
      })
    ).toEqual([
      {
        notebook: 'a.ipynb',
        name: 'n',
        types: ['integer'],
        type: 'integer',
        default: 1
      },
      {
        notebook: 'b.ipynb',
        name: 'n',
        types: ['integer'],
        type: 'integer',
        default: 2
      }
    ]);
    expect(parametersOf(null)).toEqual([]);
  });

  it('sums up a finished run, naming the first failure', () => {
    const step = (name: string, state: any, error: any = null) => ({
      step: name,
      notebook: 'a.ipynb',
      state,
      started: null,
      finished: null,
      seconds: null,
      error,
      output_notebook: null,
      cached_from: null,
      warnings: []
    });
    const message = summary({
      run: {
        id: 'r9',
        pipeline: 'p',
        state: 'failed',
        started: 1,
        finished: 2,
        params: {},
        metrics: [],
        git_commit: null,
        notebooks: [],
        error: null
      },
      steps: [
        step('load', 'cached'),
        step('train', 'failed', {
          message: 'ValueError: bad',
          notebook: 'a.ipynb',
          cell: 4,
          cell_id: 'c4'
        }),
        step('report', 'skipped')
      ],
      active: false
    });
    expect(message).toEqual({
      kind: 'error',
      text: 'Run r9 failed: 1 cached, 1 failed, 1 skipped. train: ValueError: bad'
    });
  });

  it('sums up a run whose check failed, with the failed checks', () => {
    const step = (name: string, state: any, error: any = null) => ({
      step: name,
      notebook: 'a.ipynb',
      state,
      started: null,
      finished: null,
      seconds: null,
      error,
      output_notebook: null,
      cached_from: null,
      warnings: []
    });
    const message = summary({
      run: {
        id: 'r10',
        pipeline: 'p',
        state: 'failed',
        started: 1,
        finished: 2,
        params: {},
        metrics: [],
        git_commit: null,
        notebooks: [],
        error: null
      },
      steps: [
        step('load', 'done'),
        step('validate', 'check_failed', {
          message: '1 check failed: no nulls: age has 3 of 10 values missing',
          notebook: 'a.ipynb',
          cell: 5,
          cell_id: 'c5',
          checks: [
            {
              name: 'no_nulls',
              passed: false,
              message: 'no nulls: age has 3 of 10 values missing',
              cell: 5
            }
          ]
        }),
        step('train', 'skipped')
      ],
      active: false
    });
    expect(message).toEqual({
      kind: 'error',
      text:
        'Run r10 failed: 1 done, 1 check_failed, 1 skipped. validate: 1 check failed: ' +
        'no nulls: age has 3 of 10 values missing'
    });
  });
});
