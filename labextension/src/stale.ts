/**
 * What "stale" is measured against: the parameters of the pipeline's last run.
 * A step is up to date when a run with the values of the last run would take
 * it from the cache; against the defaults, every step of a run made with other
 * values would read as stale, which is not what the user did. Pure.
 */
import { fitsTypes, IParameterField } from './params';
import { IRunRecord, JSONValue } from './tokens';

/** The run the status compares with, and the overrides sent for it. */
export interface IStatusBasis {
  runId: string;
  /** Overrides keyed NAME (one notebook) or NOTEBOOK.NAME (several). */
  params: { [key: string]: JSONValue };
}

function stem(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.ipynb$/, '');
}

/** A run's parameter value for a field, matching the notebook by path or by file name. */
function valueOf(
  run: IRunRecord,
  field: IParameterField
): { found: boolean; value: JSONValue } {
  const byNotebook = run.params ?? {};
  const exact = byNotebook[field.notebook];
  const notebook =
    exact ??
    Object.entries(byNotebook).find(
      ([path]) => stem(path) === stem(field.notebook)
    )?.[1];
  if (notebook && Object.prototype.hasOwnProperty.call(notebook, field.name)) {
    return { found: true, value: notebook[field.name] };
  }
  return { found: false, value: null };
}

/**
 * The last run's parameter values as status overrides, for the parameters the
 * notebook still has with a type that still takes the value (a parameter
 * removed or retyped since is compared with its new default). Null before the
 * first run.
 */
export function lastRunBasis(
  runs: readonly IRunRecord[],
  fields: readonly IParameterField[]
): IStatusBasis | null {
  const run = runs[0];
  if (!run) {
    return null;
  }
  const several = new Set(fields.map(f => f.notebook)).size > 1;
  const params: { [key: string]: JSONValue } = {};
  for (const field of fields) {
    const { found, value } = valueOf(run, field);
    if (found && fitsTypes(value, field.types)) {
      params[several ? `${stem(field.notebook)}.${field.name}` : field.name] =
        value;
    }
  }
  return { runId: run.id, params };
}
