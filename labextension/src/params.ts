/**
 * Run parameters: the fields the run form offers (from the manifest) and the
 * conversion between what a user types and the JSON value sent to the server.
 */
import { IManifest, IParameterSchema, JSONValue } from './tokens';

/** A run parameter the form offers, with its default. */
export interface IParameterField {
  notebook: string;
  name: string;
  /** The JSON types it takes (`[]`: any), from the manifest's schema. */
  types: string[];
  /** The types for people: `integer`, `string or null`, `any`. */
  type: string;
  default: JSONValue;
  /** The default as written in the parameters cell (`1.0`), when known. */
  literal?: string;
  /** The annotation as written (`float`, `Optional[str]`), if any. */
  annotation?: string;
}

/** The JSON types a parameter schema allows; `[]` allows any value. */
export function schemaTypes(schema: IParameterSchema | undefined): string[] {
  const declared = schema?.type;
  if (declared === undefined || declared === null || declared === '') {
    return [];
  }
  return Array.isArray(declared) ? declared.map(String) : [String(declared)];
}

const MATCHES: { [kind: string]: (value: JSONValue) => boolean } = {
  integer: v => typeof v === 'number' && Number.isInteger(v),
  number: v => typeof v === 'number',
  string: v => typeof v === 'string',
  boolean: v => typeof v === 'boolean',
  null: v => v === null,
  array: v => Array.isArray(v),
  object: v => typeof v === 'object' && v !== null && !Array.isArray(v)
};

/**
 * Whether a value is of one of the types: the server's check
 * (`cellpipe.core.parameters.fits`); an unknown type accepts anything.
 */
export function fitsTypes(value: JSONValue, types: string[]): boolean {
  return (
    types.length === 0 ||
    types.some(kind => (MATCHES[kind] ? MATCHES[kind](value) : true))
  );
}

/** Every parameter of every notebook of the pipeline, with its default. */
export function parametersOf(manifest: IManifest | null): IParameterField[] {
  const fields: IParameterField[] = [];
  for (const notebook of manifest?.notebooks ?? []) {
    for (const [name, spec] of Object.entries(notebook.parameters ?? {})) {
      const types = schemaTypes(spec?.schema);
      fields.push({
        notebook: notebook.path,
        name,
        types,
        type: types.join(' or ') || 'any',
        default: spec?.default ?? null,
        ...(spec?.literal !== undefined ? { literal: spec.literal } : {}),
        ...(spec?.annotation ? { annotation: spec.annotation } : {})
      });
    }
  }
  return fields;
}

/**
 * Turn what a user typed in the run form into a parameter value of one of the
 * parameter's types, as `cellpipe run -p NAME=TEXT` does: JSON (numbers,
 * booleans, lists) with Python's True/False/None accepted; kept as text when
 * that value is not of a type the parameter takes but text is (an optional
 * string typed as `123` stays the string "123"), or when nothing parses.
 */
export function parseParameter(
  text: string,
  types: string | string[]
): JSONValue {
  const allowed = typeof types === 'string' ? (types ? [types] : []) : types;
  const trimmed = text.trim();
  const python: { [key: string]: JSONValue } = {
    True: true,
    False: false,
    None: null
  };
  let value: JSONValue;
  if (trimmed in python) {
    value = python[trimmed];
  } else {
    try {
      value = JSON.parse(trimmed) as JSONValue;
    } catch {
      return text;
    }
  }
  if (!fitsTypes(value, allowed) && allowed.includes('string')) {
    return text;
  }
  return value;
}

/**
 * Show a parameter value in a text field, as the notebook wrote it where that
 * is known: `literal` (the parameters cell's text) keeps `1.0` a float where
 * JSON says `1`; booleans and None in Python's spelling; text as it is.
 */
export function formatParameter(value: JSONValue, literal?: string): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value === null) {
    return 'None';
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (
    typeof value === 'number' &&
    literal !== undefined &&
    /^[-+]?[\d.]+(e[-+]?\d+)?$/i.test(literal.trim()) &&
    Number(literal) === value
  ) {
    return literal.trim();
  }
  return JSON.stringify(value);
}

/** What the run form remembers of its last use for one notebook. */
export interface IRunFormState {
  /** The text of each field, by its key (NAME or NOTEBOOK.NAME). */
  values: { [key: string]: string };
  force: boolean;
  only: string;
}

/**
 * The text each field starts with: the value last submitted for this notebook
 * when there is one, else the default as written.
 */
export function initialValues(
  fields: IParameterField[],
  keyOf: (field: IParameterField) => string,
  remembered: IRunFormState | null
): { [key: string]: string } {
  return Object.fromEntries(
    fields.map(f => {
      const key = keyOf(f);
      const last = remembered?.values[key];
      return [key, last ?? formatParameter(f.default, f.literal)];
    })
  );
}

/** Where the run form's last values for a notebook are kept in the browser. */
export function runFormKey(path: string): string {
  return `cellpipe:run-form:${path}`;
}

/** The run form's last values for a notebook (null: none, or unreadable). */
export function loadRunForm(
  path: string,
  storage: Pick<Storage, 'getItem'> | null
): IRunFormState | null {
  try {
    const text = storage?.getItem(runFormKey(path));
    const data = text ? JSON.parse(text) : null;
    if (data && typeof data === 'object' && typeof data.values === 'object') {
      return {
        values: Object.fromEntries(
          Object.entries(data.values ?? {}).filter(
            ([, v]) => typeof v === 'string'
          )
        ) as { [key: string]: string },
        force: data.force === true,
        only: typeof data.only === 'string' ? data.only : ''
      };
    }
  } catch {
    // a value another version wrote, or storage refused: start afresh
  }
  return null;
}

/** Remember the run form's values for a notebook. */
export function saveRunForm(
  path: string,
  state: IRunFormState,
  storage: Pick<Storage, 'setItem'> | null
): void {
  try {
    storage?.setItem(runFormKey(path), JSON.stringify(state));
  } catch {
    // storage full or disabled: the form simply starts from the defaults
  }
}
