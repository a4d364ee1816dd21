import React from 'react';

import { IDiagnostic } from '../tokens';

export interface IDiagnosticsProps {
  diagnostics: IDiagnostic[];
  error: string | null;
  onJump: (diagnostic: IDiagnostic) => void;
  /** The section's title (default: Diagnostics). */
  title?: string;
  /** An extra class on the section (e.g. for a refused Compile or Run). */
  className?: string;
}

/** The analyzer's problems; clicking one jumps to its cell. */
export function Diagnostics(props: IDiagnosticsProps): JSX.Element {
  const errors = props.diagnostics.filter(d => d.severity === 'error').length;
  const warnings = props.diagnostics.length - errors;
  return (
    <div className={`cp-Section cp-Diagnostics ${props.className ?? ''}`}>
      <div className="cp-Section-title">
        {props.title ?? 'Diagnostics'}{' '}
        <span className="cp-Diagnostics-count">
          {errors} error(s), {warnings} warning(s)
        </span>
      </div>
      {props.error && (
        <div className="cp-Message cp-Message-error">
          Analysis failed: {props.error}
        </div>
      )}
      <ul className="cp-List">
        {props.diagnostics.map((d, i) => (
          <li
            key={`${d.code}-${d.cell ?? ''}-${i}`}
            className={`cp-Diagnostic cp-Diagnostic-${d.severity}`}
            onClick={() => props.onJump(d)}
            title={d.fix ?? ''}
          >
            <span className="cp-Diagnostic-code">{d.code}</span>{' '}
            {d.cell_number !== null && (
              <span className="cp-Diagnostic-cell">
                [{d.cell_number}
                {d.line ? `, line ${d.line}` : ''}]
              </span>
            )}{' '}
            <span className="cp-Diagnostic-message">{d.message}</span>
            {d.fix && <div className="cp-Diagnostic-fix">Fix: {d.fix}</div>}
          </li>
        ))}
      </ul>
    </div>
  );
}
