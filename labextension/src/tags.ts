/**
 * The cell tags cellpipe reads (DESIGN §1), as pure functions over `string[]`.
 *
 * Nothing here touches a notebook: each function takes a cell's tag list and
 * returns a new one (the input is never mutated). The panel's actions apply the
 * result through the cell model, so every edit is undoable and shows in
 * JupyterLab's tag editor. No analysis happens here: which cells belong to
 * which step is the analyzer's answer (the manifest), passed in as `step`.
 */

/** A step name: `[a-z_][a-z0-9_-]*`. */
export const STEP_NAME_RE = /^[a-z_][a-z0-9_-]*$/;

/** Tag prefixes that start (or re-enter) a step: ours and Kale's. */
export const STEP_PREFIXES = ['step:', 'block:'] as const;

/** Tag prefixes of explicit dependencies: ours and Kale's. */
export const AFTER_PREFIXES = ['after:', 'prev:'] as const;

/**
 * The tag spelling a notebook uses: cellpipe's (`step:`, `after:`,
 * `parameters`) or Kale's (`block:`, `prev:`, `pipeline-parameters`). Edits
 * from the panel write the notebook's own spelling, never a mix.
 */
export type Dialect = 'cellpipe' | 'kale';

/** Tags only Kale spells this way, and tags only cellpipe does. */
const KALE_ONLY = /^(block:|prev:|pipeline-parameters$|pipeline-metrics$)/;
const CELLPIPE_ONLY = /^(step:|after:|parameters$|metrics$)/;

/**
 * The notebook's dialect from all its cells' tags: Kale when Kale's spellings
 * outnumber cellpipe's own (a notebook written for Kale), else cellpipe.
 */
export function dialectOf(tagLists: readonly (readonly string[])[]): Dialect {
  let kale = 0;
  let ours = 0;
  for (const tags of tagLists) {
    for (const tag of tags) {
      if (KALE_ONLY.test(tag)) {
        kale++;
      } else if (CELLPIPE_ONLY.test(tag)) {
        ours++;
      }
    }
  }
  return kale > ours ? 'kale' : 'cellpipe';
}

/** How a dialect spells a step tag, a dependency and each role. */
const SPELLING: {
  [d in Dialect]: {
    step: string;
    after: string;
    roles: { [r: string]: string };
  };
} = {
  cellpipe: { step: 'step:', after: 'after:', roles: {} },
  kale: {
    step: 'block:',
    after: 'prev:',
    roles: { parameters: 'pipeline-parameters', metrics: 'pipeline-metrics' }
  }
};

/** Roles a cell can be given from the panel. */
export type Role =
  'parameters' | 'metrics' | 'imports' | 'functions' | 'skip' | 'nocache';

export const ROLES: readonly Role[] = [
  'parameters',
  'metrics',
  'imports',
  'functions',
  'skip',
  'nocache'
];

/**
 * Roles that take a cell out of every step (shared code, parameters, scratch);
 * a cell holds at most one of them, and no step tag beside it. Kale's
 * spellings count as the same role.
 */
const EXCLUSIVE: { [tag: string]: Role } = {
  parameters: 'parameters',
  'pipeline-parameters': 'parameters',
  imports: 'imports',
  functions: 'functions',
  skip: 'skip'
};

/** Aliases of non-exclusive roles. */
const ALIASES: { [tag: string]: Role } = {
  metrics: 'metrics',
  'pipeline-metrics': 'metrics',
  nocache: 'nocache'
};

/** Why `name` is not a valid step name, or null when it is. */
export function validateStepName(name: string): string | null {
  if (name.length === 0) {
    return 'A step needs a name.';
  }
  if (!STEP_NAME_RE.test(name)) {
    return (
      `"${name}" is not a valid step name: use lower-case letters, digits, ` +
      '"_" and "-", starting with a letter or "_" ([a-z_][a-z0-9_-]*).'
    );
  }
  return null;
}

export function isValidStepName(name: string): boolean {
  return validateStepName(name) === null;
}

/** Why `path` cannot be declared as an in:/out: file, or null when it can. */
export function validateFilePath(path: string): string | null {
  const trimmed = path.trim();
  if (trimmed.length === 0) {
    return 'A file path is needed.';
  }
  if (/\s/.test(trimmed)) {
    return `"${path}" contains white space, which a tag cannot hold.`;
  }
  return null;
}

export function isStepTag(tag: string): boolean {
  return STEP_PREFIXES.some(prefix => tag.startsWith(prefix));
}

/** The step a cell's own tags name (`step:NAME` or Kale's `block:NAME`), if any. */
export function stepTagOf(tags: readonly string[]): string | null {
  for (const tag of tags) {
    for (const prefix of STEP_PREFIXES) {
      if (tag.startsWith(prefix)) {
        const name = tag.slice(prefix.length);
        return name.length > 0 ? name : null;
      }
    }
  }
  return null;
}

/** The roles a cell's tags give it (our spellings), in ROLES order. */
export function rolesOf(tags: readonly string[]): Role[] {
  const found = new Set<Role>();
  for (const tag of tags) {
    const role = EXCLUSIVE[tag] ?? ALIASES[tag];
    if (role) {
      found.add(role);
    }
  }
  return ROLES.filter(role => found.has(role));
}

/** The in:/out: files and after: dependencies a cell declares. */
export function declarationsOf(tags: readonly string[]): {
  inputs: string[];
  outputs: string[];
  after: string[];
} {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const after: string[] = [];
  for (const tag of tags) {
    if (tag.startsWith('in:')) {
      inputs.push(tag.slice(3));
    } else if (tag.startsWith('out:')) {
      outputs.push(tag.slice(4));
    } else {
      for (const prefix of AFTER_PREFIXES) {
        if (tag.startsWith(prefix)) {
          after.push(tag.slice(prefix.length));
        }
      }
    }
  }
  return { inputs, outputs, after };
}

function appendOnce(tags: readonly string[], tag: string): string[] {
  return tags.includes(tag) ? [...tags] : [...tags, tag];
}

/** `tags` without `tag` (every occurrence). */
export function withoutTag(tags: readonly string[], tag: string): string[] {
  return tags.filter(t => t !== tag);
}

/**
 * Put the cell in step `name`: its step tag becomes `step:NAME` (Kale:
 * `block:NAME`), where a `block:` or other `step:` tag was, and roles that keep a cell out of steps
 * (skip, imports, functions, parameters) are dropped. Other tags stay in place.
 */
export function withStep(
  tags: readonly string[],
  name: string,
  dialect: Dialect = 'cellpipe'
): string[] {
  const error = validateStepName(name);
  if (error) {
    throw new Error(error);
  }
  const tag = `${SPELLING[dialect].step}${name}`;
  const out: string[] = [];
  let placed = false;
  for (const t of tags) {
    if (isStepTag(t)) {
      if (!placed) {
        out.push(tag);
        placed = true;
      }
    } else if (!(t in EXCLUSIVE)) {
      out.push(t);
    }
  }
  return placed ? out : [tag, ...out];
}

/**
 * Give the cell `role`. An exclusive role (parameters, imports, functions,
 * skip) replaces any other exclusive role and the cell's step tag; metrics and
 * nocache are added beside what is there.
 */
export function withRole(
  tags: readonly string[],
  role: Role,
  dialect: Dialect = 'cellpipe'
): string[] {
  if (!ROLES.includes(role)) {
    throw new Error(`Unknown role "${role}".`);
  }
  if (rolesOf(tags).includes(role)) {
    return [...tags];
  }
  const spelled = SPELLING[dialect].roles[role] ?? role;
  if (role in EXCLUSIVE) {
    const kept = tags.filter(t => !(t in EXCLUSIVE) && !isStepTag(t));
    return [...kept, spelled];
  }
  return appendOnce(tags, spelled);
}

/** Declare that the cell's step reads (`in`) or writes (`out`) `path`. */
export function withFile(
  tags: readonly string[],
  kind: 'in' | 'out',
  path: string
): string[] {
  const error = validateFilePath(path);
  if (error) {
    throw new Error(error);
  }
  return appendOnce(tags, `${kind}:${path.trim()}`);
}

/** Declare that the cell's step runs after step `name`. */
export function withDependency(
  tags: readonly string[],
  name: string,
  dialect: Dialect = 'cellpipe'
): string[] {
  const error = validateStepName(name);
  if (error) {
    throw new Error(error);
  }
  const already = declarationsOf(tags).after.includes(name);
  return already ? [...tags] : [...tags, `${SPELLING[dialect].after}${name}`];
}

export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((tag, i) => tag === b[i]);
}

/** What the panel knows about one cell when planning an edit. */
export interface ICellTags {
  /** The cell's current tags. */
  tags: readonly string[];
  /** The step the analyzer put the cell in (from the manifest), or null. */
  step: string | null;
}

/**
 * Apply `edit` to the selected cells of a notebook and return only the cells
 * whose tags change, by index.
 *
 * An untagged cell belongs to the step of the nearest tagged cell above it, so
 * retagging a run of cells would silently pull the cell just after the run into
 * another step. When an edit changes a cell's step tag or exclusive role, the
 * first cell after each selected run, if it has no step tag of its own but
 * belongs to a step, gets an explicit `step:` tag for the step it is in now
 * (spelled in the notebook's `dialect`).
 */
export function planEdit(
  cells: readonly ICellTags[],
  selected: readonly number[],
  edit: (tags: readonly string[]) => string[],
  dialect: Dialect = 'cellpipe'
): Map<number, string[]> {
  const chosen = [...new Set(selected)]
    .filter(i => i >= 0 && i < cells.length)
    .sort((a, b) => a - b);
  const isChosen = new Set(chosen);
  const edits = new Map<number, string[]>();
  const structural = (before: readonly string[], after: readonly string[]) =>
    stepTagOf(before) !== stepTagOf(after) ||
    before.filter(t => t in EXCLUSIVE).join() !==
      after.filter(t => t in EXCLUSIVE).join();

  let runChanged = false;
  for (const index of chosen) {
    const before = cells[index].tags;
    const after = edit(before);
    if (!sameTags(before, after)) {
      edits.set(index, after);
    }
    runChanged = runChanged || structural(before, after);
    const next = index + 1;
    if (isChosen.has(next)) {
      continue;
    }
    // End of a selected run: keep the next cell where it is.
    if (runChanged && next < cells.length) {
      const follower = cells[next];
      const runEndsIn = stepTagOf(edits.get(index) ?? before);
      if (
        follower.step !== null &&
        follower.step !== runEndsIn &&
        stepTagOf(follower.tags) === null &&
        !follower.tags.some(t => t in EXCLUSIVE)
      ) {
        edits.set(next, withStep(follower.tags, follower.step, dialect));
      }
    }
    runChanged = false;
  }
  return edits;
}
