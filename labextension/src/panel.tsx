import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { CellActions as Actions } from './actions';
import { CellActions } from './components/CellActions';
import { Diagnostics } from './components/Diagnostics';
import { RunForm } from './components/RunForm';
import { RunsView } from './components/RunsView';
import { StepList } from './components/StepList';
import { Toolbar } from './components/Toolbar';
import { CellpipeModel } from './model';
import { sameNotebook } from './notebook';
import { formatParameter, loadRunForm, saveRunForm } from './params';
import { IDiagnostic, IStepError } from './tokens';

/** What the panel asks of the application (commands, documents). */
export interface IPanelHost {
  actions: Actions;
  openFile: (path: string) => void;
  /** Open a step's output notebook of run `runId`. */
  openOutput: (runId: string, step: string, path: string) => void;
  /** Open the runs dashboard in the main area. */
  openRuns?: () => void;
  /** Open the pipeline view in the main area. */
  openPipeline?: () => void;
}

/** The browser's local storage, or null where it is not available. */
function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** What the stale flags compare with, for people. */
function staleBasisText(model: CellpipeModel): string {
  const basis = model.runs.statusBasis;
  if (!basis) {
    return 'no run yet: compared with the defaults';
  }
  const values = Object.entries(basis.params)
    .map(([k, v]) => `${k}=${formatParameter(v)}`)
    .join(', ');
  return `compared with run ${basis.runId}${values ? ` (${values})` : ''}`;
}

interface IViewProps {
  model: CellpipeModel;
  host: IPanelHost;
}

function PanelView({ model, host }: IViewProps): JSX.Element {
  const [tab, setTab] = useState<'pipeline' | 'runs'>('pipeline');
  const [showRunForm, setShowRunForm] = useState(false);
  const path = model.path;
  const enabled = path !== null;
  const actions = host.actions;

  const jumpToDiagnostic = (d: IDiagnostic) => {
    if (path && d.notebook && !sameNotebook(d.notebook, path)) {
      host.openFile(d.notebook);
      return;
    }
    actions.jumpTo({ id: d.cell_id, index: d.cell });
  };
  const jumpToError = (error: IStepError, stepNotebook: string) => {
    const notebook = error.notebook ?? stepNotebook;
    if (path && notebook && !sameNotebook(notebook, path)) {
      host.openFile(notebook);
      return;
    }
    void actions.jumpToLine(
      {
        id: error.cell_id,
        index: error.cell !== null ? error.cell - 1 : null
      },
      error.line ?? null
    );
  };
  const refusal = model.message?.diagnostics ?? [];

  return (
    <div className="cp-PanelBody">
      <div className="cp-Header">
        <span className="cp-Header-title">cellpipe</span>
        <span className="cp-Header-path" title={path ?? ''}>
          {path ?? 'Open a notebook to see its pipeline'}
        </span>
        {host.openPipeline && (
          <button
            className="jp-Button jp-mod-styled jp-mod-reject cp-Button cp-open-pipeline"
            disabled={!enabled}
            onClick={host.openPipeline}
            title="Open the pipeline as a live graph in the main area"
          >
            Graph
          </button>
        )}
      </div>
      <Toolbar
        enabled={enabled}
        busy={model.busy}
        running={model.runs.running}
        cancelling={model.runs.cancelState?.outcome === 'cancelling'}
        analyzing={model.analyzing}
        message={model.message}
        onValidate={() => void model.validate()}
        onCompile={() => void model.compile()}
        onExport={kind => void model.exportTo(kind)}
        onRun={() => setShowRunForm(!showRunForm)}
        onCancel={() => void model.runs.cancel()}
        onDismiss={() => model.setMessage(null)}
      />
      {refusal.length > 0 && (
        <Diagnostics
          title={model.message?.text.split(':')[0] ?? 'Refused'}
          className="cp-Refusal"
          diagnostics={refusal}
          error={null}
          onJump={jumpToDiagnostic}
        />
      )}
      {showRunForm && enabled && !model.runs.running && (
        <RunForm
          key={path}
          fields={model.parameters}
          steps={model.steps.map(s => s.name)}
          initial={path ? loadRunForm(path, browserStorage()) : null}
          onSubmit={(params, options, state) => {
            setShowRunForm(false);
            if (path) {
              saveRunForm(path, state, browserStorage());
            }
            void model.startRun(params, options);
          }}
          onClose={() => setShowRunForm(false)}
        />
      )}
      <div className="cp-Tabs">
        <button
          className={`cp-Tab${tab === 'pipeline' ? ' cp-mod-active' : ''}`}
          onClick={() => setTab('pipeline')}
        >
          Pipeline
        </button>
        <button
          className={`cp-Tab cp-Tab-runs${tab === 'runs' ? ' cp-mod-active' : ''}`}
          onClick={() => {
            setTab('runs');
            void model.runs.refresh();
          }}
        >
          Runs ({model.runs.list.length})
        </button>
      </div>
      {tab === 'pipeline' ? (
        <>
          <CellActions
            enabled={enabled}
            steps={model.steps.map(s => s.name)}
            activeIndex={model.activeCellIndex}
            activeTags={model.activeCellTags}
            onNewStep={() => void actions.newStep()}
            onAddToStep={name => void actions.addToStep(name)}
            onRole={role => actions.markRole(role)}
            onFile={kind => void actions.declareFile(kind)}
            onDependency={() => void actions.addDependency()}
            onRemoveTag={tag => actions.removeTag(tag)}
          />
          <Diagnostics
            diagnostics={model.diagnostics}
            error={model.analyzeError}
            onJump={jumpToDiagnostic}
          />
          <StepList
            steps={model.steps}
            selected={model.selectedStep}
            stateOf={step => model.stepState(step)}
            runOf={step => model.stepRun(step)}
            statusOf={step => model.runs.stepStatus(step)}
            staleBasis={staleBasisText(model)}
            staleError={model.runs.statusError}
            outputOf={step => model.stepOutput(step)}
            onSelect={step => actions.selectStep(step)}
            onOpenOutput={step => {
              const ref = model.stepOutputRef(step);
              if (ref) {
                host.openOutput(ref.runId, step, ref.path);
              }
            }}
            errorOf={step => model.stepError(step)}
            onShowError={jumpToError}
          />
        </>
      ) : (
        <RunsView
          runs={model.runs.list}
          selected={model.runs.selected}
          diff={model.runs.diff}
          busy={model.busy !== null}
          onToggle={id => model.runs.toggle(id)}
          onCompare={() => void model.runs.compare()}
          onRefresh={() => void model.runs.refresh()}
          onOpenDashboard={host.openRuns}
        />
      )}
    </div>
  );
}

/** The left-sidebar widget: re-renders the view on every model change. */
export class CellpipePanel extends ReactWidget {
  constructor(
    private readonly model: CellpipeModel,
    private readonly host: IPanelHost
  ) {
    super();
    this.id = 'cellpipe-panel';
    this.addClass('cp-Panel');
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => <PanelView model={this.model} host={this.host} />}
      </UseSignal>
    );
  }
}
