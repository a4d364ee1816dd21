import React from 'react';

import { IMessage } from '../model';
import { ExportKind } from '../tokens';

export interface IToolbarProps {
  enabled: boolean;
  busy: string | null;
  running: boolean;
  /** Cancel was pressed and the server has not yet confirmed the run stopped. */
  cancelling?: boolean;
  analyzing: boolean;
  message: IMessage | null;
  onValidate: () => void;
  onCompile: () => void;
  onExport: (kind: ExportKind) => void;
  onRun: () => void;
  onCancel: () => void;
  onDismiss: () => void;
}

/** Validate, Compile, Export, Run (or Cancel during a run), and the last message. */
export function Toolbar(props: IToolbarProps): JSX.Element {
  const disabled = !props.enabled || props.busy !== null;
  return (
    <div className="cp-Toolbar">
      <div className="cp-Toolbar-buttons">
        <button
          className="jp-Button jp-mod-styled jp-mod-reject cp-Button cp-validate"
          disabled={disabled}
          onClick={props.onValidate}
          title="Run every check of `cellpipe validate` on the unsaved notebook"
        >
          Validate
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject cp-Button cp-compile"
          disabled={disabled}
          onClick={props.onCompile}
          title="Write pipeline.json and one papermill notebook per step"
        >
          Compile
        </button>
        <select
          className="jp-mod-styled cp-Button cp-export"
          disabled={disabled}
          value=""
          aria-label="Export the pipeline"
          title="Write the pipeline for Kubeflow Pipelines or Argo Workflows (the file goes to build/)"
          onChange={event => {
            const kind = event.currentTarget.value as ExportKind | '';
            if (kind) {
              props.onExport(kind);
            }
          }}
        >
          <option value="">Export…</option>
          <option value="kfp">Kubeflow Pipelines</option>
          <option value="argo">Argo Workflows</option>
        </select>
        {props.running ? (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn cp-Button cp-cancel"
            onClick={props.onCancel}
            disabled={props.cancelling}
            title="Stop the run"
          >
            {props.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        ) : (
          <button
            className="jp-Button jp-mod-styled jp-mod-accept cp-Button cp-run"
            disabled={disabled}
            onClick={props.onRun}
            title="Run the pipeline (saved notebook) with parameter overrides"
          >
            Run…
          </button>
        )}
        <span
          className={`cp-Toolbar-activity${props.analyzing || props.busy ? ' cp-mod-active' : ''}`}
          title={props.analyzing ? 'analyzing' : (props.busy ?? '')}
        />
      </div>
      {props.message && (
        <div
          className={`cp-Message cp-Message-${props.message.kind}`}
          onClick={props.onDismiss}
          title="Click to dismiss"
        >
          {props.message.text}
        </div>
      )}
    </div>
  );
}
