import { planMarks } from '../marks';
import {
  dialectOf,
  ICellTags,
  planEdit,
  withDependency,
  withRole,
  withStep
} from '../tags';

describe('cell marks', () => {
  const names = ['load', 'train'];

  it('marks step cells with their step colour and roles with their own mark', () => {
    const marks = planMarks(
      [
        { tags: ['imports'], step: null },
        { tags: ['parameters'], step: null },
        { tags: ['step:load'], step: 'load' },
        { tags: [], step: 'load' },
        { tags: ['functions'], step: null },
        { tags: ['skip'], step: null },
        { tags: ['pipeline-parameters'], step: null },
        { tags: ['step:train'], step: 'train' },
        { tags: [], step: null }
      ],
      names
    );
    expect(marks.map(m => m.role)).toEqual([
      'imports',
      'parameters',
      null,
      null,
      'functions',
      'skip',
      'parameters',
      null,
      null
    ]);
    expect(marks.map(m => m.step)).toEqual([
      null,
      null,
      'load',
      'load',
      null,
      null,
      null,
      'train',
      null
    ]);
    expect(marks.map(m => m.first)).toEqual([
      false,
      false,
      true,
      false,
      false,
      false,
      false,
      true,
      false
    ]);
    expect(marks[2].colour).toMatch(/^#[0-9a-f]{6}$/);
    expect(marks[2].colour).not.toBe(marks[7].colour);
    expect(marks[3].colour).toBe(marks[2].colour);
    expect(marks[0].colour).toBe('');
  });

  it('labels a step again where its cells resume after another step', () => {
    const marks = planMarks(
      [
        { tags: ['step:load'], step: 'load' },
        { tags: ['step:train'], step: 'train' },
        { tags: ['step:load'], step: 'load' }
      ],
      names
    );
    expect(marks.map(m => m.first)).toEqual([true, true, true]);
  });

  it('follows the manifest, not the tags, for membership', () => {
    // A markdown heading above step:train belongs to train (the compiler says so).
    const marks = planMarks(
      [
        { tags: ['step:load'], step: 'load' },
        { tags: [], step: 'train' },
        { tags: ['step:train'], step: 'train' }
      ],
      names
    );
    expect(marks.map(m => m.step)).toEqual(['load', 'train', 'train']);
    expect(marks.map(m => m.first)).toEqual([true, true, false]);
  });
});

describe('tag dialects', () => {
  it('recognises a Kale notebook by its spellings', () => {
    expect(dialectOf([['block:load'], [], ['block:train', 'prev:load']])).toBe(
      'kale'
    );
    expect(dialectOf([['pipeline-parameters'], ['imports']])).toBe('kale');
    expect(dialectOf([['step:load'], ['after:x']])).toBe('cellpipe');
    expect(dialectOf([[], ['imports'], ['skip']])).toBe('cellpipe');
    // Mixed: the spelling most used wins.
    expect(dialectOf([['block:a'], ['block:b'], ['step:c']])).toBe('kale');
  });

  it('writes Kale spellings on a Kale notebook', () => {
    expect(withStep(['block:load', 'x'], 'train', 'kale')).toEqual([
      'block:train',
      'x'
    ]);
    expect(withStep([], 'train', 'kale')).toEqual(['block:train']);
    expect(withDependency(['block:train'], 'load', 'kale')).toEqual([
      'block:train',
      'prev:load'
    ]);
    expect(withRole(['block:train'], 'parameters', 'kale')).toEqual([
      'pipeline-parameters'
    ]);
    expect(withRole([], 'metrics', 'kale')).toEqual(['pipeline-metrics']);
    expect(withRole([], 'imports', 'kale')).toEqual(['imports']);
    // Already there in either spelling: nothing to add.
    expect(withRole(['parameters'], 'parameters', 'kale')).toEqual([
      'parameters'
    ]);
  });

  it('keeps cellpipe spellings by default', () => {
    expect(withStep(['block:load'], 'train')).toEqual(['step:train']);
    expect(withDependency([], 'load')).toEqual(['after:load']);
    expect(withRole([], 'parameters')).toEqual(['parameters']);
  });

  it('pins the next cell in the notebook’s dialect', () => {
    const cells: ICellTags[] = [
      { tags: ['block:load'], step: 'load' },
      { tags: [], step: 'load' },
      { tags: [], step: 'load' }
    ];
    const edits = planEdit(
      cells,
      [1],
      tags => withStep(tags, 'clean', 'kale'),
      'kale'
    );
    expect(edits.get(1)).toEqual(['block:clean']);
    expect(edits.get(2)).toEqual(['block:load']);
  });
});
