/**
 * What each cell of a notebook shows in the margin, as pure data: the step it
 * belongs to (with the step's colour, and a label on the first cell of each run
 * of the step's cells) or the role that keeps it out of every step (imports,
 * functions, parameters, skip). notebook.ts puts these on the cell nodes.
 *
 * Step membership is the compiler's (the manifest's cells), never guessed here;
 * roles are read from the cell's own tags, as the compiler reads them.
 */
import { colourOfStep, textOn } from './colours';
import { rolesOf, Role } from './tags';

/** Roles that take a cell out of every step, each with its own mark. */
export const MARKED_ROLES: readonly Role[] = [
  'parameters',
  'imports',
  'functions',
  'skip'
];

/** One cell's mark. */
export interface ICellMark {
  /** The step the compiler put the cell in, or null. */
  step: string | null;
  /** First cell of a run of the step's cells: it carries the step's name. */
  first: boolean;
  /** The step's colour and the text colour readable on it ('' without a step). */
  colour: string;
  text: string;
  /** The cell's own out-of-step role, or null. */
  role: Role | null;
}

/**
 * The mark of every cell, given each cell's tags and the step the manifest
 * puts it in, and the pipeline's step names in order (for the colours).
 */
export function planMarks(
  cells: readonly { tags: readonly string[]; step: string | null }[],
  stepNames: readonly string[]
): ICellMark[] {
  return cells.map((cell, index) => {
    const step = cell.step;
    const colour = step !== null ? colourOfStep(stepNames, step) : '';
    const role =
      step === null
        ? (MARKED_ROLES.find(r => rolesOf(cell.tags).includes(r)) ?? null)
        : null;
    return {
      step,
      first: step !== null && (index === 0 || cells[index - 1].step !== step),
      colour,
      text: colour && !colour.startsWith('var(') ? textOn(colour) : '',
      role
    };
  });
}
