import React from 'react';

import { Role, ROLES } from '../tags';

export interface ICellActionsProps {
  enabled: boolean;
  steps: string[];
  activeIndex: number | null;
  activeTags: string[];
  onNewStep: () => void;
  onAddToStep: (name: string) => void;
  onRole: (role: Role) => void;
  onFile: (kind: 'in' | 'out') => void;
  onDependency: () => void;
  onRemoveTag: (tag: string) => void;
}

/** Buttons that retag the selected cells, and the active cell's tags. */
export function CellActions(props: ICellActionsProps): JSX.Element {
  const disabled = !props.enabled;
  return (
    <div className="cp-Section cp-CellActions">
      <div className="cp-Section-title">Selected cells</div>
      <div className="cp-ButtonRow">
        <button
          className="cp-Chip cp-new-step"
          disabled={disabled}
          onClick={props.onNewStep}
          title="Make the selected cells a new step"
        >
          + New step
        </button>
        <select
          className="cp-add-to-step"
          disabled={disabled || props.steps.length === 0}
          value=""
          onChange={event => {
            if (event.target.value) {
              props.onAddToStep(event.target.value);
            }
          }}
          title="Add the selected cells to an existing step"
        >
          <option value="">Add to step…</option>
          {props.steps.map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <div className="cp-ButtonRow">
        {ROLES.map(role => (
          <button
            key={role}
            className={`cp-Chip cp-role cp-role-${role}`}
            disabled={disabled}
            onClick={() => props.onRole(role)}
            title={`Tag the selected cells "${role}"`}
          >
            {role}
          </button>
        ))}
      </div>
      <div className="cp-ButtonRow">
        <button
          className="cp-Chip cp-in-file"
          disabled={disabled}
          onClick={() => props.onFile('in')}
          title="The step reads a file (in:PATH)"
        >
          in: file
        </button>
        <button
          className="cp-Chip cp-out-file"
          disabled={disabled}
          onClick={() => props.onFile('out')}
          title="The step writes a file (out:PATH)"
        >
          out: file
        </button>
        <button
          className="cp-Chip cp-after"
          disabled={disabled}
          onClick={props.onDependency}
          title="The step runs after another step (after:NAME)"
        >
          after: step
        </button>
      </div>
      <div className="cp-CellTags">
        <span className="cp-Muted">
          {props.activeIndex === null
            ? 'No active cell'
            : `Cell [${props.activeIndex + 1}] tags:`}
        </span>
        {props.activeTags.length === 0 && props.activeIndex !== null && (
          <span className="cp-Muted"> none</span>
        )}
        {props.activeTags.map(tag => (
          <span key={tag} className="cp-Tag" data-tag={tag}>
            {tag}
            <button
              className="cp-Tag-remove"
              disabled={disabled}
              onClick={() => props.onRemoveTag(tag)}
              title={`Remove the tag "${tag}" from the selected cells`}
            >
              ×
            </button>
          </span>
        ))}
      </div>
    </div>
  );
}
