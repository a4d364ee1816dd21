import React from 'react';

import { colourOfStep } from '../colours';
import {
  IManifestStep,
  IStepError,
  IStepRun,
  IStepStatus,
  StepState
} from '../tokens';
import { StepError } from './StepError';

export interface IStepListProps {
  steps: IManifestStep[];
  selected: string | null;
  stateOf: (step: string) => StepState | null;
  runOf: (step: string) => IStepRun | null;
  statusOf: (step: string) => IStepStatus | null;
  /** What the stale flags compare with, for people (e.g. "against run X's parameters"). */
  staleBasis?: string;
  /** Why the stale flags are unknown, or null. */
  staleError?: string | null;
  outputOf: (step: string) => string | null;
  onSelect: (step: string) => void;
  onOpenOutput: (step: string) => void;
  /** The step's error in the run shown (live run, else its last run). */
  errorOf: (step: string) => IStepError | null;
  onShowError: (error: IStepError, notebook: string) => void;
}

/** A file path relative to the step's notebook folder when it is inside it. */
export function relativeTo(file: string, notebook: string): string {
  const slash = notebook.lastIndexOf('/');
  const folder = slash >= 0 ? notebook.slice(0, slash + 1) : '';
  return folder && file.startsWith(folder) ? file.slice(folder.length) : file;
}

function Names(props: { label: string; names: string[] }): JSX.Element | null {
  if (props.names.length === 0) {
    return null;
  }
  return (
    <div className="cp-Step-row">
      <span className="cp-Step-label">{props.label}</span>{' '}
      {props.names.join(', ')}
    </div>
  );
}

/** The pipeline's steps, in order, each with its colour and last state. */
export function StepList(props: IStepListProps): JSX.Element {
  const names = props.steps.map(s => s.name);
  return (
    <div className="cp-Section cp-Steps">
      <div className="cp-Section-title">Steps ({props.steps.length})</div>
      {props.staleError && props.steps.length > 0 && (
        <div
          className="cp-Muted cp-Steps-staleUnknown"
          title={props.staleError}
        >
          Up to date or stale: unknown until the pipeline’s errors are fixed.
        </div>
      )}
      {props.steps.length === 0 && (
        <div className="cp-Muted">
          No steps yet: select cells and press “New step”.
        </div>
      )}
      <ul className="cp-List">
        {props.steps.map(step => {
          const colour = colourOfStep(names, step.name);
          const state = props.stateOf(step.name);
          const run = props.runOf(step.name);
          const status = props.statusOf(step.name);
          const output = props.outputOf(step.name);
          const error = props.errorOf(step.name);
          const code = step.cells.filter(c => c.type === 'code').length;
          const selected = props.selected === step.name;
          return (
            <li
              key={step.name}
              className={`cp-Step${selected ? ' cp-mod-selected' : ''}`}
              data-step={step.name}
              style={{ borderLeftColor: colour }}
              onClick={() => props.onSelect(step.name)}
            >
              <div className="cp-Step-head">
                <span
                  className="cp-Step-swatch"
                  style={{ background: colour }}
                />
                <span className="cp-Step-name">{step.name}</span>

                {status && !status.up_to_date && (
                  <span
                    className="cp-Step-stale"
                    title={`${status.reason}${props.staleBasis ? ` (${props.staleBasis})` : ''}`}
                  >
                    stale
                  </span>
                )}
                <span
                  className={`cp-Step-state cp-state-${state ?? 'none'}`}
                  data-state={state ?? ''}
                >
                  {state ?? 'not run'}
                  {run?.seconds !== null && run?.seconds !== undefined
                    ? ` ${run.seconds.toFixed(1)}s`
                    : ''}
                </span>
              </div>
              {status && !status.up_to_date && (
                <div className="cp-Step-row cp-Step-staleReason">
                  <span className="cp-Step-label">stale</span> {status.reason}
                </div>
              )}
              <div className="cp-Step-row">
                <span className="cp-Step-label">cells</span>{' '}
                <span className="cp-Step-cells">
                  {code} code
                  {step.cells.length > code
                    ? ` + ${step.cells.length - code} markdown`
                    : ''}
                </span>
              </div>
              <Names
                label="in"
                names={[
                  ...step.inputs.variables.map(v => `${v.name} ← ${v.from}`),
                  ...step.inputs.files.map(f => relativeTo(f, step.notebook))
                ]}
              />
              <Names
                label="out"
                names={[
                  ...step.outputs.variables.map(v => v.name),
                  ...step.outputs.files.map(f => relativeTo(f, step.notebook))
                ]}
              />
              <Names label="after" names={step.depends_on} />
              <Names label="params" names={step.parameters} />
              <Names label="metrics" names={step.metrics} />
              {error && (state === 'failed' || state === 'check_failed') && (
                <StepError
                  error={error}
                  onJump={e => props.onShowError(e, step.notebook)}
                />
              )}
              {output &&
                (state === 'done' ||
                  state === 'failed' ||
                  state === 'check_failed') && (
                  <a
                    className="cp-Step-output"
                    href="#"
                    onClick={event => {
                      event.preventDefault();
                      event.stopPropagation();
                      props.onOpenOutput(step.name);
                    }}
                    title={output}
                  >
                    output notebook
                  </a>
                )}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
