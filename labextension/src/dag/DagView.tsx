/**
 * The pipeline drawn as SVG from a layout: steps as boxes in their colours
 * with their live state and time, variables and files on the edges; a click
 * selects a step, whose details (output notebook, error) show below.
 */
import React from 'react';

import { IManifestStep, IStepRun, StepState } from '../tokens';
import { INodeStyle, nodeStyle, nodeTime } from './graph';
import { IDagLayout, IPlacedEdge, IPlacedNode, IPoint } from './layout';

export interface IDagViewProps {
  /** The followed notebook, or null. */
  path: string | null;
  pipeline: string | null;
  steps: IManifestStep[];
  layout: IDagLayout | null;
  /** Laying out or analyzing. */
  loading: boolean;
  error: string | null;
  zoom: number;
  selected: string | null;
  /** The run shown: id, state, and whether it is still going. */
  run: { id: string; state: string; active: boolean } | null;
  cancelling: boolean;
  message: { kind: 'info' | 'error'; text: string } | null;
  sinceAnswerMs: number;
  colourOf: (step: string) => string;
  stateOf: (step: string) => StepState | null;
  runOf: (step: string) => IStepRun | null;
  hasOutput: (step: string) => boolean;
  onSelect: (step: string) => void;
  onOpenOutput: (step: string) => void;
  onShowError: (step: string) => void;
  onCancel: () => void;
  onZoom: (zoom: number | 'fit') => void;
}

function path(points: IPoint[]): string {
  return points.map(p => `${p.x},${p.y}`).join(' ');
}

function Edge({ edge }: { edge: IPlacedEdge }): JSX.Element {
  return (
    <g
      className={`cp-DagEdge cp-DagEdge-${edge.kind}`}
      data-source={edge.source}
      data-target={edge.target}
    >
      <polyline
        className="cp-DagEdge-line"
        points={path(edge.points)}
        markerEnd="url(#cp-dag-arrow)"
      />
      {edge.label && (
        <g className="cp-DagEdge-label">
          <rect
            x={edge.label.x}
            y={edge.label.y}
            width={edge.label.width}
            height={edge.label.height}
            rx={3}
          />
          <text
            x={edge.label.x + edge.label.width / 2}
            y={edge.label.y + edge.label.height / 2}
            textAnchor="middle"
            dominantBaseline="central"
          >
            {edge.label.text}
          </text>
        </g>
      )}
    </g>
  );
}

function FileNode({ node }: { node: IPlacedNode }): JSX.Element {
  return (
    <g
      className="cp-DagNode cp-DagNode-file"
      data-file={node.title}
      transform={`translate(${node.x},${node.y})`}
    >
      <title>{node.title}</title>
      <rect width={node.width} height={node.height} rx={node.height / 2} />
      <text
        x={node.width / 2}
        y={node.height / 2}
        textAnchor="middle"
        dominantBaseline="central"
      >
        {node.label}
      </text>
    </g>
  );
}

function StepNode(props: {
  node: IPlacedNode;
  colour: string;
  style: INodeStyle;
  state: StepState | null;
  time: string;
  selected: boolean;
  onSelect: () => void;
}): JSX.Element {
  const { node, colour, style, selected } = props;
  const classes = [
    style.className,
    selected ? 'cp-mod-selected' : '',
    style.muted ? 'cp-mod-muted' : ''
  ].join(' ');
  return (
    <g
      className={classes}
      data-step={node.step ?? ''}
      data-state={props.state ?? ''}
      transform={`translate(${node.x},${node.y})`}
      role="button"
      tabIndex={0}
      aria-label={`step ${node.label}: ${style.badge}`}
      onClick={props.onSelect}
      onKeyDown={event => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          props.onSelect();
        }
      }}
    >
      <title>{`${node.label}: ${style.badge}${props.time ? ` (${props.time})` : ''}`}</title>
      <rect
        className="cp-DagNode-box"
        width={node.width}
        height={node.height}
        rx={6}
        style={{ stroke: colour }}
        strokeDasharray={style.dashed ? '6 4' : undefined}
      />
      <rect
        className="cp-DagNode-band"
        width={8}
        height={node.height}
        rx={3}
        style={{ fill: colour }}
      />
      <text className="cp-DagNode-name" x={18} y={22}>
        {node.label}
      </text>
      <circle
        className="cp-DagNode-dot"
        cx={22}
        cy={40}
        r={4.5}
        style={{ fill: style.badgeColor }}
      />
      <text
        className="cp-DagNode-state"
        x={32}
        y={44}
        style={{ fill: style.badgeColor }}
      >
        {style.badge}
      </text>
      <text
        className="cp-DagNode-time"
        x={node.width - 10}
        y={44}
        textAnchor="end"
      >
        {props.time}
      </text>
    </g>
  );
}

function Details(props: IDagViewProps & { step: IManifestStep }): JSX.Element {
  const { step } = props;
  const state = props.stateOf(step.name);
  const run = props.runOf(step.name);
  const error = run?.error ?? null;
  const time = nodeTime(run, props.sinceAnswerMs);
  return (
    <div className="cp-DagDetails" data-step={step.name}>
      <div className="cp-DagDetails-head">
        <span
          className="cp-DagDetails-swatch"
          style={{ background: props.colourOf(step.name) }}
        />
        <span className="cp-DagDetails-name">{step.name}</span>
        <span className="cp-DagDetails-state" data-state={state ?? ''}>
          {nodeStyle(state).badge}
          {time ? ` · ${time}` : ''}
        </span>
        <span className="cp-DagDetails-cells">
          {step.cells.length} cell(s) selected in the notebook
        </span>
      </div>
      <div className="cp-DagDetails-buttons">
        <button
          className="jp-Button jp-mod-styled jp-mod-reject cp-Button cp-dag-output"
          disabled={!props.hasOutput(step.name)}
          onClick={() => props.onOpenOutput(step.name)}
          title="Open the step's output notebook (outputs and errors included)"
        >
          Open output notebook
        </button>
        <button
          className="jp-Button jp-mod-styled jp-mod-reject cp-Button cp-dag-error"
          disabled={!error}
          onClick={() => props.onShowError(step.name)}
          title="Show the error and go to the failing cell"
        >
          Show error
        </button>
      </div>
      {error && (
        <div className="cp-DagDetails-error">
          <div className="cp-DagDetails-errorMessage">
            {error.cell !== null ? `[cell ${error.cell}] ` : ''}
            {error.message}
          </div>
          {error.traceback && error.traceback.length > 0 && (
            <pre className="cp-DagDetails-traceback">
              {error.traceback.join('\n')}
            </pre>
          )}
        </div>
      )}
    </div>
  );
}

/** The pipeline view's body. */
export function DagView(props: IDagViewProps): JSX.Element {
  const { layout, zoom } = props;
  const selected = props.steps.find(s => s.name === props.selected) ?? null;
  return (
    <div className="cp-Dag">
      <div className="cp-DagHeader">
        <span className="cp-DagHeader-title">
          {props.pipeline ? `Pipeline ${props.pipeline}` : 'Pipeline'}
        </span>
        <span className="cp-DagHeader-path" title={props.path ?? ''}>
          {props.path ?? 'Open a notebook to see its pipeline'}
        </span>
        {props.run && (
          <span
            className="cp-DagHeader-run"
            data-state={props.run.active ? 'running' : props.run.state}
          >
            run {props.run.id}: {props.run.state}
          </span>
        )}
        {props.run?.active && (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn cp-Button cp-dag-cancel"
            disabled={props.cancelling}
            onClick={props.onCancel}
            title="Stop the run"
          >
            {props.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        <span className="cp-DagHeader-zoom">
          <button
            className="cp-DagZoom"
            title="Zoom out"
            onClick={() => props.onZoom(zoom / 1.25)}
          >
            −
          </button>
          <button
            className="cp-DagZoom"
            title="Actual size"
            onClick={() => props.onZoom(1)}
          >
            {Math.round(zoom * 100)}%
          </button>
          <button
            className="cp-DagZoom"
            title="Zoom in"
            onClick={() => props.onZoom(zoom * 1.25)}
          >
            +
          </button>
          <button
            className="cp-DagZoom"
            title="Fit the pipeline to the view"
            onClick={() => props.onZoom('fit')}
          >
            Fit
          </button>
        </span>
      </div>
      {props.message && (
        <div className={`cp-Message cp-Message-${props.message.kind}`}>
          {props.message.text}
        </div>
      )}
      {props.error && <div className="cp-DagError">{props.error}</div>}
      <div className="cp-DagCanvas">
        {layout && layout.nodes.length > 0 ? (
          <svg
            className="cp-DagSvg"
            width={layout.width * zoom}
            height={layout.height * zoom}
            viewBox={`0 0 ${layout.width} ${layout.height}`}
          >
            <defs>
              <marker
                id="cp-dag-arrow"
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path className="cp-DagArrow" d="M 0 0 L 10 5 L 0 10 z" />
              </marker>
            </defs>
            {layout.edges.map(edge => (
              <Edge key={edge.id} edge={edge} />
            ))}
            {layout.nodes.map(node =>
              node.kind === 'file' ? (
                <FileNode key={node.id} node={node} />
              ) : (
                <StepNode
                  key={node.id}
                  node={node}
                  colour={props.colourOf(node.step!)}
                  state={props.stateOf(node.step!)}
                  style={nodeStyle(props.stateOf(node.step!))}
                  time={nodeTime(props.runOf(node.step!), props.sinceAnswerMs)}
                  selected={props.selected === node.step}
                  onSelect={() => props.onSelect(node.step!)}
                />
              )
            )}
          </svg>
        ) : (
          <div className="cp-Muted cp-DagEmpty">
            {props.loading
              ? 'Laying out the pipeline…'
              : props.path
                ? 'No steps yet: tag cells with step:NAME, or use “New step” in the cellpipe panel.'
                : 'Open a notebook to see its pipeline.'}
          </div>
        )}
      </div>
      {selected && <Details {...props} step={selected} />}
    </div>
  );
}
