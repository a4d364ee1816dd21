import {
  declarationsOf,
  ICellTags,
  isValidStepName,
  planEdit,
  rolesOf,
  stepTagOf,
  validateFilePath,
  validateStepName,
  withDependency,
  withFile,
  withoutTag,
  withRole,
  withStep
} from '../tags';

describe('step names', () => {
  it.each([
    ['load', true],
    ['train_forest', true],
    ['_private', true],
    ['step-2', true],
    ['a9', true],
    ['', false],
    ['9lives', false],
    ['Train', false],
    ['with space', false],
    ['dot.name', false],
    ['-dash', false]
  ])('%p is valid: %p', (name, valid) => {
    expect(isValidStepName(name)).toBe(valid);
  });

  it('explains what a valid name looks like', () => {
    expect(validateStepName('Bad Name')).toContain('[a-z_][a-z0-9_-]*');
    expect(validateStepName('')).toBe('A step needs a name.');
  });
});

describe('reading tags', () => {
  it('finds the step of a cell, ours or Kale’s', () => {
    expect(stepTagOf(['imports'])).toBeNull();
    expect(stepTagOf(['step:load', 'out:a.csv'])).toBe('load');
    expect(stepTagOf(['block:train'])).toBe('train');
    expect(stepTagOf(['block:'])).toBeNull();
  });

  it('lists roles in a fixed order, Kale spellings included', () => {
    expect(rolesOf(['metrics', 'pipeline-parameters', 'x'])).toEqual([
      'parameters',
      'metrics'
    ]);
    expect(rolesOf(['pipeline-metrics', 'nocache'])).toEqual([
      'metrics',
      'nocache'
    ]);
  });

  it('lists files and dependencies', () => {
    expect(
      declarationsOf([
        'in:data/a.csv',
        'out:model.pkl',
        'after:load',
        'prev:clean'
      ])
    ).toEqual({
      inputs: ['data/a.csv'],
      outputs: ['model.pkl'],
      after: ['load', 'clean']
    });
  });
});

describe('withStep', () => {
  it('adds a step tag first to an untagged cell', () => {
    expect(withStep([], 'load')).toEqual(['step:load']);
    expect(withStep(['out:x.csv'], 'load')).toEqual(['step:load', 'out:x.csv']);
  });

  it('replaces the step tag in place, Kale’s block: included', () => {
    expect(withStep(['in:a', 'step:old', 'out:b'], 'new')).toEqual([
      'in:a',
      'step:new',
      'out:b'
    ]);
    expect(withStep(['block:old', 'step:other'], 'new')).toEqual(['step:new']);
  });

  it('takes the cell out of skip, shared code and parameters, keeps metrics', () => {
    expect(withStep(['skip'], 'plot')).toEqual(['step:plot']);
    expect(withStep(['imports', 'metrics'], 'x')).toEqual([
      'step:x',
      'metrics'
    ]);
    expect(withStep(['pipeline-parameters'], 'x')).toEqual(['step:x']);
  });

  it('never mutates its input', () => {
    const tags = Object.freeze(['step:a', 'skip']) as readonly string[];
    expect(withStep(tags, 'b')).toEqual(['step:b']);
    expect(tags).toEqual(['step:a', 'skip']);
  });

  it('refuses an invalid name', () => {
    expect(() => withStep([], 'Bad')).toThrow(/not a valid step name/);
  });
});

describe('withRole', () => {
  it('adds metrics and nocache beside the step tag', () => {
    expect(withRole(['step:eval'], 'metrics')).toEqual([
      'step:eval',
      'metrics'
    ]);
    expect(withRole(['step:eval'], 'nocache')).toEqual([
      'step:eval',
      'nocache'
    ]);
  });

  it('an exclusive role replaces the step tag and other exclusive roles', () => {
    expect(withRole(['step:eda', 'out:x'], 'skip')).toEqual(['out:x', 'skip']);
    expect(withRole(['imports'], 'functions')).toEqual(['functions']);
    expect(withRole(['skip'], 'parameters')).toEqual(['parameters']);
  });

  it('is a no-op when the role is there, in any spelling', () => {
    expect(withRole(['skip'], 'skip')).toEqual(['skip']);
    expect(withRole(['pipeline-metrics'], 'metrics')).toEqual([
      'pipeline-metrics'
    ]);
  });
});

describe('files, dependencies and removal', () => {
  it('declares in:/out: files once', () => {
    expect(withFile(['step:a'], 'in', ' data/raw.csv ')).toEqual([
      'step:a',
      'in:data/raw.csv'
    ]);
    expect(withFile(['out:m.pkl'], 'out', 'm.pkl')).toEqual(['out:m.pkl']);
  });

  it('refuses empty paths and paths with spaces', () => {
    expect(validateFilePath('')).not.toBeNull();
    expect(() => withFile([], 'out', 'my file.csv')).toThrow(/white space/);
  });

  it('adds a dependency once, Kale’s prev: counting', () => {
    expect(withDependency(['step:b'], 'a')).toEqual(['step:b', 'after:a']);
    expect(withDependency(['prev:a'], 'a')).toEqual(['prev:a']);
    expect(() => withDependency([], 'A!')).toThrow();
  });

  it('removes a tag', () => {
    expect(withoutTag(['step:a', 'skip', 'step:a'], 'step:a')).toEqual([
      'skip'
    ]);
    expect(withoutTag(['x'], 'y')).toEqual(['x']);
  });
});

describe('planEdit over a notebook', () => {
  // cells: 0 imports, 1 step:load, 2 (untagged, in load), 3 (untagged, in load),
  // 4 step:train, 5 (untagged, in train)
  const notebook: ICellTags[] = [
    { tags: ['imports'], step: null },
    { tags: ['step:load'], step: 'load' },
    { tags: [], step: 'load' },
    { tags: [], step: 'load' },
    { tags: ['step:train'], step: 'train' },
    { tags: [], step: 'train' }
  ];

  it('returns only the cells that change', () => {
    const edits = planEdit(notebook, [1], tags => withStep(tags, 'load'));
    expect(edits.size).toBe(0);
  });

  it('a new step from the middle of another keeps the cells after it', () => {
    const edits = planEdit(notebook, [2], tags => withStep(tags, 'clean'));
    expect([...edits.entries()]).toEqual([
      [2, ['step:clean']],
      [3, ['step:load']]
    ]);
  });

  it('needs no extra tag when the next cell starts its own step', () => {
    const edits = planEdit(notebook, [2, 3], tags => withStep(tags, 'clean'));
    expect([...edits.entries()]).toEqual([
      [2, ['step:clean']],
      [3, ['step:clean']]
    ]);
  });

  it('handles several runs of selected cells, in any order, once each', () => {
    const edits = planEdit(notebook, [5, 2, 2], tags => withStep(tags, 'x'));
    expect([...edits.keys()].sort()).toEqual([2, 3, 5]);
    expect(edits.get(3)).toEqual(['step:load']);
  });

  it('skipping the first cell of a step keeps the step on the next cell', () => {
    const edits = planEdit(notebook, [1], tags => withRole(tags, 'skip'));
    expect(edits.get(1)).toEqual(['skip']);
    expect(edits.get(2)).toEqual(['step:load']);
  });

  it('adding metrics changes no membership, so nothing else is touched', () => {
    const edits = planEdit(notebook, [2], tags => withRole(tags, 'metrics'));
    expect([...edits.entries()]).toEqual([[2, ['metrics']]]);
  });

  it('ignores indices outside the notebook', () => {
    expect(planEdit(notebook, [-1, 99], tags => withStep(tags, 'x')).size).toBe(
      0
    );
  });
});
