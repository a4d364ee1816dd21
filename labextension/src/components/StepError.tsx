import React from 'react';

import { IStepError } from '../tokens';

export interface IStepErrorProps {
  error: IStepError;
  /** Put the cursor on the failing line (or the failing cell). */
  onJump: (error: IStepError) => void;
}

/** Where a step failed, as the CLI prints it. */
export function errorWhere(error: IStepError): string {
  const parts: string[] = [];
  if (error.cell !== null && error.cell !== undefined) {
    parts.push(`cell [${error.cell}]`);
  }
  if (error.line) {
    parts.push(`line ${error.line}`);
  }
  return parts.join(', ');
}

/**
 * A failed step's error: the message, where it happened (cell, line and the
 * failing line's code), the traceback's last frames, failed checks and earlier
 * attempts, and a button that puts the cursor on the failing line.
 */
export function StepError(props: IStepErrorProps): JSX.Element {
  const { error } = props;
  const where = errorWhere(error);
  const failedChecks = (error.checks ?? []).filter(c => !c.passed);
  return (
    <div className="cp-StepError" onClick={event => event.stopPropagation()}>
      <div className="cp-StepError-message">{error.message}</div>
      {where && (
        <div className="cp-StepError-where">
          at {where}
          {error.code ? ': ' : ''}
          {error.code && <code>{error.code.trim()}</code>}
        </div>
      )}
      {failedChecks.length > 0 && (
        <ul className="cp-StepError-checks">
          {failedChecks.map((c, i) => (
            <li key={`${c.name}-${i}`}>
              {c.name}: {c.message}
            </li>
          ))}
        </ul>
      )}
      {(error.traceback ?? []).length > 0 && (
        <pre className="cp-StepError-traceback">
          {(error.traceback ?? []).join('\n')}
        </pre>
      )}
      {(error.attempts ?? []).map(a => (
        <div key={a.attempt} className="cp-StepError-attempt">
          attempt {a.attempt} failed: {a.message}
        </div>
      ))}
      {error.cell !== null && error.cell !== undefined && (
        <button
          className="jp-Button jp-mod-styled jp-mod-reject cp-StepError-jump"
          onClick={() => props.onJump(error)}
          title="Put the cursor on the failing line in the source notebook"
        >
          {error.line
            ? `Go to cell [${error.cell}], line ${error.line}`
            : `Go to cell [${error.cell}]`}
        </button>
      )}
    </div>
  );
}
