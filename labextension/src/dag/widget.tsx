/**
 * The pipeline view, a main-area widget over the panel's model: it shows the
 * pipeline of the notebook the cellpipe panel follows, lays it out again only
 * when its shape changes, and re-renders states and timers on every poll.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';
import type { Message } from '@lumino/messaging';
import React from 'react';

import { CellActions } from '../actions';
import { colourOfStep } from '../colours';
import { CellpipeModel } from '../model';
import { sameNotebook } from '../notebook';
import { DagView } from './DagView';
import { dagOf, shapeKey } from './graph';
import { IDagLayout, layoutDag } from './layout';
import { goToError, selectStepCells } from './select';

/** A run's state for the header: a run whose record is final but whose process is still exiting is finishing. */
export function runLabel(state: string, active: boolean): string {
  return active && state !== 'starting' && state !== 'running'
    ? `${state} (finishing)`
    : state;
}

/** What the view asks of the application. */
export interface IPipelineHost {
  actions: CellActions;
  openFile: (path: string) => void;
  openOutput: (runId: string, step: string, path: string) => void;
}

/** The id of the (single) pipeline view. */
export const PIPELINE_VIEW_ID = 'cellpipe-pipeline-view';

export class PipelineView extends ReactWidget {
  constructor(
    private readonly model: CellpipeModel,
    private readonly host: IPipelineHost
  ) {
    super();
    this.addClass('cp-PipelineView');
    model.stateChanged.connect(this._onModelChanged, this);
    this._onModelChanged();
  }

  /** The graph layout drawn (null until the first layout is done). */
  get graphLayout(): IDagLayout | null {
    return this._graph;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopTicker();
    this.model.stateChanged.disconnect(this._onModelChanged, this);
    super.dispose();
  }

  protected onBeforeShow(msg: Message): void {
    super.onBeforeShow(msg);
    this._syncTicker();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (this._autoZoom) {
      this._fitWidth();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._stopTicker();
  }

  render(): JSX.Element {
    const model = this.model;
    const names = model.steps.map(s => s.name);
    const live = model.runs.run;
    const runId = model.runs.runId;
    return (
      <DagView
        path={model.path}
        pipeline={model.analysis?.pipeline?.name ?? null}
        steps={model.steps}
        layout={this._graph}
        loading={this._laying || model.analyzing}
        error={this._layoutError ?? model.analyzeError}
        zoom={this._zoom}
        selected={model.selectedStep}
        run={
          runId
            ? {
                id: runId,
                state: runLabel(
                  live?.run.state ?? 'starting',
                  model.runs.running
                ),
                active: model.runs.running
              }
            : null
        }
        cancelling={model.runs.cancelState?.outcome === 'cancelling'}
        message={model.message}
        sinceAnswerMs={Date.now() - this._answerAt}
        colourOf={step => colourOfStep(names, step)}
        stateOf={step => model.stepState(step)}
        runOf={step => model.stepRun(step)}
        hasOutput={step => model.stepOutputRef(step) !== null}
        onSelect={step => this._select(step)}
        onOpenOutput={step => {
          const ref = model.stepOutputRef(step);
          if (ref) {
            this.host.openOutput(ref.runId, step, ref.path);
          }
        }}
        onShowError={step => this._showError(step)}
        onCancel={() => void model.runs.cancel()}
        onZoom={zoom => this._setZoom(zoom)}
      />
    );
  }

  // ------------------------------------------------------------ private

  private _onModelChanged(): void {
    const model = this.model;
    this.title.label = model.path
      ? `Pipeline: ${model.path.replace(/^.*\//, '')}`
      : 'Pipeline';
    this.title.caption = model.path
      ? `cellpipe pipeline of ${model.path}`
      : 'cellpipe pipeline';
    if (model.runs.run !== this._answer) {
      this._answer = model.runs.run;
      this._answerAt = Date.now();
    }
    const graph = dagOf(model.steps);
    const key = `${model.path}\n${shapeKey(graph)}`;
    if (key !== this._key) {
      this._key = key;
      const seq = ++this._seq;
      this._laying = true;
      layoutDag(graph)
        .then(layout => {
          if (seq === this._seq && !this.isDisposed) {
            this._graph = layout;
            this._layoutError = null;
            if (this._autoZoom) {
              this._fitWidth();
            }
          }
        })
        .catch(error => {
          if (seq === this._seq) {
            this._layoutError = `Could not lay out the pipeline: ${error}`;
          }
        })
        .finally(() => {
          if (seq === this._seq && !this.isDisposed) {
            this._laying = false;
            this.update();
          }
        });
    }
    this._syncTicker();
    this.update();
  }

  private _select(name: string): void {
    this.model.selectStep(name);
    const step = this.model.steps.find(s => s.name === name);
    const panel = this.host.actions.panel;
    if (!step || !panel) {
      return;
    }
    if (!sameNotebook(step.notebook, panel.context.path)) {
      this.host.openFile(step.notebook);
      return;
    }
    selectStepCells(panel, step);
  }

  private _showError(name: string): void {
    const run = this.model.stepRun(name);
    const error = run?.error;
    const panel = this.host.actions.panel;
    this.model.selectStep(name);
    if (!error || !panel) {
      return;
    }
    const notebook = error.notebook ?? run.notebook;
    if (notebook && !sameNotebook(notebook, panel.context.path)) {
      this.host.openFile(notebook);
      return;
    }
    goToError(panel, error);
  }

  /** The zoom that fits the graph to the canvas (its width, or both sides). */
  private _fitting(both: boolean): number | null {
    const canvas = this.node.querySelector('.cp-DagCanvas');
    const layout = this._graph;
    if (!canvas || !layout || layout.width <= 0 || canvas.clientWidth <= 0) {
      return null;
    }
    const width = (canvas.clientWidth - 12) / layout.width;
    const height = (canvas.clientHeight - 12) / layout.height;
    return both && height > 0 ? Math.min(width, height) : width;
  }

  /** Until the user zooms: never wider than the view, never larger than 100%. */
  private _fitWidth(): void {
    const fit = this._fitting(false);
    if (fit !== null) {
      this._zoom = Math.min(1, Math.max(0.4, fit));
      this.update();
    }
  }

  private _setZoom(zoom: number | 'fit'): void {
    const value = zoom === 'fit' ? (this._fitting(true) ?? 1) : zoom;
    this._autoZoom = false;
    this._zoom = Math.min(3, Math.max(0.25, value));
    this.update();
  }

  /** While a run is live and the view visible, timers count up every second. */
  private _syncTicker(): void {
    if (this.model.runs.running && this.isVisible) {
      if (this._ticker === null) {
        this._ticker = setInterval(() => this.update(), 1000);
      }
    } else {
      this._stopTicker();
    }
  }

  private _stopTicker(): void {
    if (this._ticker !== null) {
      clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  private _graph: IDagLayout | null = null;
  private _layoutError: string | null = null;
  private _laying = false;
  private _key = '';
  private _seq = 0;
  private _zoom = 1;
  private _autoZoom = true;
  private _answer: unknown = null;
  private _answerAt = Date.now();
  private _ticker: ReturnType<typeof setInterval> | null = null;
}

/** The pipeline view in a main-area frame. */
export function pipelineWidget(
  model: CellpipeModel,
  host: IPipelineHost
): MainAreaWidget<PipelineView> {
  const content = new PipelineView(model, host);
  const widget = new MainAreaWidget({ content });
  widget.id = PIPELINE_VIEW_ID;
  widget.title.closable = true;
  const sync = () => {
    widget.title.label = content.title.label;
    widget.title.caption = content.title.caption;
  };
  content.title.changed.connect(sync);
  sync();
  return widget;
}
