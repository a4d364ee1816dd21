import {
  formatParameter,
  initialValues,
  IParameterField,
  loadRunForm,
  parametersOf,
  runFormKey,
  saveRunForm
} from '../params';
import { lastRunBasis } from '../stale';
import { IRunRecord } from '../tokens';

function field(
  name: string,
  types: string[],
  value: IParameterField['default'],
  extra: Partial<IParameterField> = {}
): IParameterField {
  return {
    notebook: 'nb/a.ipynb',
    name,
    types,
    type: types.join(' or ') || 'any',
    default: value,
    ...extra
  };
}

function run(params: IRunRecord['params'], id = 'r2'): IRunRecord {
  return {
    id,
    pipeline: 'p',
    state: 'succeeded',
    started: 1,
    finished: 2,
    params,
    metrics: [],
    git_commit: null,
    notebooks: Object.keys(params),
    error: null
  };
}

describe('parameter values as written', () => {
  it('keeps the notebook’s spelling of numbers, booleans and None', () => {
    expect(formatParameter(1, '1.0')).toBe('1.0');
    expect(formatParameter(0.001, '1e-3')).toBe('1e-3');
    expect(formatParameter(1)).toBe('1');
    expect(formatParameter(true, 'True')).toBe('True');
    expect(formatParameter(false)).toBe('False');
    expect(formatParameter(null, 'None')).toBe('None');
    expect(formatParameter('abc', "'abc'")).toBe('abc');
    expect(formatParameter([1, 2], '(1, 2)')).toBe('[1,2]');
    // A literal that is not this value is not trusted.
    expect(formatParameter(2, '1.0')).toBe('2');
  });

  it('carries the literal and the annotation from the manifest', () => {
    const [c] = parametersOf({
      cellpipe_manifest: 1,
      name: 'p',
      settings: {},
      steps: [],
      notebooks: [
        {
          path: 'a.ipynb',
          parameters: {
            C: {
              default: 1,
              schema: { type: 'number' },
              literal: '1.0',
              annotation: 'float'
            }
          },
          parameters_cell: 0,
          shared_cells: [],
          settings: {}
        }
      ]
    });
    expect(c).toMatchObject({ literal: '1.0', annotation: 'float' });
    expect(formatParameter(c.default, c.literal)).toBe('1.0');
  });
});

describe('the run form remembers', () => {
  const fields = [
    field('C', ['number'], 1, { literal: '1.0' }),
    field('name', ['string'], 'x')
  ];
  const keyOf = (f: IParameterField) => f.name;

  it('starts from the defaults as written, then from the last values', () => {
    expect(initialValues(fields, keyOf, null)).toEqual({
      C: '1.0',
      name: 'x'
    });
    expect(
      initialValues(fields, keyOf, {
        values: { C: '2.5', gone: '1' },
        force: true,
        only: ''
      })
    ).toEqual({ C: '2.5', name: 'x' });
  });

  it('keeps one entry per notebook in the browser storage', () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v)
    };
    expect(loadRunForm('a.ipynb', storage)).toBeNull();
    saveRunForm(
      'a.ipynb',
      { values: { C: '2.5' }, force: true, only: 'train' },
      storage
    );
    expect(loadRunForm('a.ipynb', storage)).toEqual({
      values: { C: '2.5' },
      force: true,
      only: 'train'
    });
    expect(loadRunForm('b.ipynb', storage)).toBeNull();
    store.set(runFormKey('b.ipynb'), 'not json');
    expect(loadRunForm('b.ipynb', storage)).toBeNull();
    expect(loadRunForm('a.ipynb', null)).toBeNull();
  });
});

describe('stale against the last run', () => {
  it('sends the last run’s values of the parameters the notebook still has', () => {
    const fields = [
      field('n', ['integer'], 3),
      field('label', ['string'], 'x'),
      field('retyped', ['string'], 'a')
    ];
    expect(
      lastRunBasis(
        [run({ 'nb/a.ipynb': { n: 5, label: 'y', retyped: 1, gone: 2 } })],
        fields
      )
    ).toEqual({ runId: 'r2', params: { n: 5, label: 'y' } });
    expect(lastRunBasis([], fields)).toBeNull();
  });

  it('keys by NOTEBOOK.NAME when several notebooks declare parameters', () => {
    const fields = [
      field('n', ['integer'], 3),
      { ...field('n', ['integer'], 3), notebook: 'nb/b.ipynb' }
    ];
    expect(
      lastRunBasis(
        [
          run({ 'a.ipynb': { n: 4 }, 'b.ipynb': { n: 6 } }, 'new'),
          run({ 'a.ipynb': { n: 1 } }, 'old')
        ],
        fields
      )
    ).toEqual({ runId: 'new', params: { 'a.n': 4, 'b.n': 6 } });
  });
});
