import React, { useState } from 'react';

import {
  formatParameter,
  initialValues,
  IParameterField,
  IRunFormState,
  parseParameter
} from '../params';
import { IRunOptions } from '../runs';
import { JSONValue } from '../tokens';

export interface IRunFormProps {
  fields: IParameterField[];
  steps: string[];
  /** The values last submitted for this notebook (prefilled), or null. */
  initial?: IRunFormState | null;
  onSubmit: (
    params: { [name: string]: JSONValue },
    options: IRunOptions,
    state: IRunFormState
  ) => void;
  onClose: () => void;
}

/** Parameter overrides (prefilled with the defaults) and run options. */
export function RunForm(props: IRunFormProps): JSX.Element {
  const multi = new Set(props.fields.map(f => f.notebook)).size > 1;
  const keyOf = (f: IParameterField) =>
    multi
      ? `${f.notebook.replace(/^.*\//, '').replace(/\.ipynb$/, '')}.${f.name}`
      : f.name;
  const [values, setValues] = useState<{ [key: string]: string }>(() =>
    initialValues(props.fields, keyOf, props.initial ?? null)
  );
  const [force, setForce] = useState(props.initial?.force ?? false);
  const [only, setOnly] = useState(() =>
    props.initial?.only && props.steps.includes(props.initial.only)
      ? props.initial.only
      : ''
  );
  const defaults = () => {
    setValues(initialValues(props.fields, keyOf, null));
    setForce(false);
    setOnly('');
  };

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const params: { [name: string]: JSONValue } = {};
    for (const field of props.fields) {
      const key = keyOf(field);
      const text = values[key];
      if (text !== formatParameter(field.default, field.literal)) {
        params[key] = parseParameter(text, field.types);
      }
    }
    props.onSubmit(
      params,
      { force, ...(only ? { only: [only] } : {}) },
      { values, force, only }
    );
  };

  return (
    <form className="cp-Section cp-RunForm" onSubmit={submit}>
      <div className="cp-Section-title">Run with parameters</div>
      {props.fields.length === 0 && (
        <div className="cp-Muted">This pipeline has no parameters.</div>
      )}
      <table className="cp-RunForm-table">
        <tbody>
          {props.fields.map(field => {
            const key = keyOf(field);
            return (
              <tr key={key}>
                <td>
                  <label htmlFor={`cp-param-${key}`}>{key}</label>
                </td>
                <td>
                  <input
                    id={`cp-param-${key}`}
                    className="jp-mod-styled cp-param"
                    data-param={key}
                    value={values[key] ?? ''}
                    title={`default: ${formatParameter(field.default, field.literal)}`}
                    onChange={event =>
                      setValues({ ...values, [key]: event.target.value })
                    }
                  />
                </td>
                <td
                  className="cp-param-type"
                  data-param-type={key}
                  title={
                    field.annotation
                      ? `annotated ${field.annotation}`
                      : 'from the default value'
                  }
                >
                  {field.annotation ?? field.type}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="cp-ButtonRow">
        <label>
          <input
            type="checkbox"
            checked={force}
            onChange={event => setForce(event.target.checked)}
          />{' '}
          ignore cache
        </label>
        <select value={only} onChange={event => setOnly(event.target.value)}>
          <option value="">all steps</option>
          {props.steps.map(step => (
            <option key={step} value={step}>
              only {step}
            </option>
          ))}
        </select>
      </div>
      <div className="cp-ButtonRow">
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept cp-start-run"
        >
          Start run
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject cp-run-defaults"
          onClick={defaults}
          title="Put back each parameter's default from the parameters cell"
        >
          Defaults
        </button>
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          onClick={props.onClose}
        >
          Close
        </button>
      </div>
    </form>
  );
}
