/**
 * A Compile, Export or Run the server refused: its diagnostics travel with the
 * panel's message, so the panel lists them (code, cell, message, fix; each a
 * link to its cell) instead of one long red string.
 */
import { IDiagnostic } from './tokens';

/** The diagnostics a refused request carried (request.ts puts them on the error). */
export function diagnosticsOf(error: unknown): IDiagnostic[] {
  const list = (error as { diagnostics?: unknown } | null)?.diagnostics;
  return Array.isArray(list) ? (list as IDiagnostic[]) : [];
}

/**
 * The message for a failed Compile, Export or Run. When the server refused it
 * for the pipeline's problems, the text is one line and the problems are listed
 * as diagnostics.
 */
export function failureMessage(
  what: string,
  error: unknown
): { kind: 'error'; text: string; diagnostics?: IDiagnostic[] } {
  const diagnostics = diagnosticsOf(error);
  if (diagnostics.length === 0) {
    const text = error instanceof Error ? error.message : String(error);
    return { kind: 'error', text: `${what} failed: ${text}` };
  }
  const errors = diagnostics.filter(d => d.severity === 'error').length;
  return {
    kind: 'error',
    text: `${what} refused: ${errors} error(s) in the pipeline; fix them first.`,
    diagnostics
  };
}
