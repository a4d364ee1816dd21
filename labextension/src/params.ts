/**
 * Run parameters: the fields the run form offers (from the manifest) and the
 * conversion between what a user types and the JSON value sent to the server.
 */
import { IManifest, JSONValue } from './tokens';

/** A run parameter the form offers, with its default. */
export interface IParameterField {
  notebook: string;
  name: string;
  type: string;
  default: JSONValue;
}

/** Every parameter of every notebook of the pipeline, with its default. */
export function parametersOf(manifest: IManifest | null): IParameterField[] {
  const fields: IParameterField[] = [];
  for (const notebook of manifest?.notebooks ?? []) {
    for (const [name, spec] of Object.entries(notebook.parameters ?? {})) {
      fields.push({
        notebook: notebook.path,
        name,
        type: String(spec?.schema?.type ?? ''),
        default: spec?.default ?? null
      });
    }
  }
  return fields;
}

/**
 * Turn what a user typed in the run form into a parameter value: text for a
 * string parameter, otherwise JSON (numbers, booleans, lists), Python's
 * True/False/None accepted, and plain text when nothing else fits.
 */
export function parseParameter(text: string, type: string): JSONValue {
  const trimmed = text.trim();
  if (type === 'string' || type === 'str') {
    return text;
  }
  const python: { [key: string]: JSONValue } = {
    True: true,
    False: false,
    None: null
  };
  if (trimmed in python) {
    return python[trimmed];
  }
  try {
    return JSON.parse(trimmed) as JSONValue;
  } catch {
    return text;
  }
}

/** Show a parameter value in a text field. */
export function formatParameter(value: JSONValue): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value === null) {
    return 'None';
  }
  return JSON.stringify(value);
}
