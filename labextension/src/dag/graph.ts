/**
 * The pipeline as a graph, without any DOM: the analyzer's manifest steps
 * become nodes and edges (variables and files as edge labels), then the input
 * of elkjs's layered layout; a step's live state becomes the style of its node.
 * Pure functions, tested in Jest; the layout call lives in layout.ts and the
 * drawing in DagView.tsx.
 */
import type { ElkExtendedEdge, ElkNode, LayoutOptions } from 'elkjs';

import { IManifestStep, IStepRun, StepState } from '../tokens';

/** A node: a step, or a file no step produces (an input) or reads (a result). */
export interface IDagNode {
  id: string;
  kind: 'step' | 'file';
  /** The step's name, or the file's short path. */
  label: string;
  /** The step's name, or the file's full (root-relative) path. */
  title: string;
  /** The step's name (step nodes only). */
  step: string | null;
}

/**
 * An edge: data flows from `source` to `target`. `labels` are the variables
 * and files that travel on it; an edge with none is an explicit `after:`.
 */
export interface IDagEdge {
  id: string;
  source: string;
  target: string;
  kind: 'data' | 'after' | 'file';
  labels: string[];
}

export interface IDagModel {
  nodes: IDagNode[];
  edges: IDagEdge[];
}

/** The node id of a step (a prefix keeps steps and files apart). */
export function stepNodeId(step: string): string {
  return `step:${step}`;
}

/** The node id of a file. */
export function fileNodeId(path: string): string {
  return `file:${path}`;
}

/**
 * A file's label: relative to the step's notebook folder when it is inside
 * it, else its last two path segments (the full path is the node's tooltip).
 */
export function shortPath(file: string, notebook: string): string {
  const slash = notebook.lastIndexOf('/');
  const folder = slash >= 0 ? notebook.slice(0, slash + 1) : '';
  if (folder && file.startsWith(folder)) {
    return file.slice(folder.length);
  }
  const parts = file.split('/');
  return parts.length > 2 ? `…/${parts.slice(-2).join('/')}` : file;
}

/**
 * The graph of the pipeline's steps: one node per step, one edge per pair of
 * steps with a dependency, labelled with the variables (`name`) and files the
 * consumer reads from the producer; files read but produced by no step, and
 * files written but read by no step, as file nodes.
 */
export function dagOf(steps: readonly IManifestStep[]): IDagModel {
  const names = new Set(steps.map(s => s.name));
  const producerOf = new Map<string, string>();
  for (const step of steps) {
    for (const file of step.outputs.files) {
      producerOf.set(file, step.name);
    }
  }
  const readFiles = new Set(steps.flatMap(s => s.inputs.files));
  const nodes: IDagNode[] = steps.map(s => ({
    id: stepNodeId(s.name),
    kind: 'step',
    label: s.name,
    title: s.name,
    step: s.name
  }));
  const edges: IDagEdge[] = [];
  const fileNodes = new Map<string, IDagNode>();
  const fileNode = (file: string, notebook: string): string => {
    const id = fileNodeId(file);
    if (!fileNodes.has(id)) {
      fileNodes.set(id, {
        id,
        kind: 'file',
        label: shortPath(file, notebook),
        title: file,
        step: null
      });
    }
    return id;
  };

  for (const step of steps) {
    // What this step reads from each producer, in a stable order.
    const labels = new Map<string, string[]>();
    const add = (producer: string, label: string | null) => {
      if (!names.has(producer) || producer === step.name) {
        return;
      }
      const list = labels.get(producer) ?? [];
      if (label !== null && !list.includes(label)) {
        list.push(label);
      }
      labels.set(producer, list);
    };
    for (const dep of step.depends_on) {
      add(dep, null);
    }
    for (const dep of step.after) {
      add(dep, null);
    }
    for (const v of step.inputs.variables) {
      add(v.from, v.name);
    }
    for (const file of step.inputs.files) {
      const producer = producerOf.get(file);
      if (producer !== undefined && producer !== step.name) {
        add(producer, shortPath(file, step.notebook));
      } else if (producer === undefined) {
        edges.push({
          id: `${fileNodeId(file)}->${step.name}`,
          source: fileNode(file, step.notebook),
          target: stepNodeId(step.name),
          kind: 'file',
          labels: []
        });
      }
    }
    for (const [producer, list] of labels) {
      edges.push({
        id: `${producer}->${step.name}`,
        source: stepNodeId(producer),
        target: stepNodeId(step.name),
        kind: list.length > 0 ? 'data' : 'after',
        labels: list
      });
    }
  }
  for (const step of steps) {
    for (const file of step.outputs.files) {
      if (!readFiles.has(file)) {
        edges.push({
          id: `${step.name}->${fileNodeId(file)}`,
          source: stepNodeId(step.name),
          target: fileNode(file, step.notebook),
          kind: 'file',
          labels: []
        });
      }
    }
  }
  return { nodes: [...nodes, ...fileNodes.values()], edges };
}

/** Sizes of the drawing, in SVG pixels (11 px UI font). */
export const SIZES = {
  stepWidth: 184,
  stepHeight: 58,
  fileHeight: 26,
  charWidth: 6.6,
  labelHeight: 16,
  padding: 12
};

/** The width text takes, estimated without a DOM (layout runs before drawing). */
export function textWidth(text: string): number {
  return Math.ceil(text.length * SIZES.charWidth);
}

/** An edge's label text: the names it carries, shortened when there are many. */
export function edgeLabel(labels: readonly string[], max = 3): string {
  if (labels.length <= max) {
    return labels.join(', ');
  }
  return `${labels.slice(0, max).join(', ')} +${labels.length - max}`;
}

/**
 * Why the layered algorithm: a pipeline is a DAG with a direction of flow,
 * and ELK's layered (Sugiyama) layout puts each step in a layer after all of
 * its producers, minimises edge crossings, and places edge labels without
 * overlaps; orthogonal edge routes read well with labels on them. Top to
 * bottom, like the notebook it sits beside (the view opens in a split to its
 * right, taller than wide).
 */
export const LAYOUT_OPTIONS: LayoutOptions = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '44',
  'elk.spacing.nodeNode': '28',
  'elk.spacing.edgeLabel': '4',
  'elk.spacing.edgeNode': '16',
  'elk.layered.spacing.edgeNodeBetweenLayers': '16',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.padding': `[top=${SIZES.padding},left=${SIZES.padding},bottom=${SIZES.padding},right=${SIZES.padding}]`
};

/** The elkjs input for a pipeline graph: sized nodes, labelled edges. */
export function toElkGraph(model: IDagModel): ElkNode {
  const children: ElkNode[] = model.nodes.map(node =>
    node.kind === 'step'
      ? {
          id: node.id,
          width: Math.max(SIZES.stepWidth, textWidth(node.label) + 48),
          height: SIZES.stepHeight
        }
      : {
          id: node.id,
          width: textWidth(node.label) + 28,
          height: SIZES.fileHeight
        }
  );
  const edges: ElkExtendedEdge[] = model.edges.map(edge => {
    const text = edgeLabel(edge.labels);
    return {
      id: edge.id,
      sources: [edge.source],
      targets: [edge.target],
      labels: text
        ? [
            {
              id: `${edge.id}:label`,
              text,
              width: textWidth(text) + 8,
              height: SIZES.labelHeight
            }
          ]
        : []
    };
  });
  return { id: 'root', layoutOptions: LAYOUT_OPTIONS, children, edges };
}

/** A key that changes when, and only when, the drawing's shape changes. */
export function shapeKey(model: IDagModel): string {
  return JSON.stringify([
    model.nodes.map(n => n.id),
    model.edges.map(e => [e.id, e.labels])
  ]);
}

// ---------------------------------------------------------------- node style

/** How a step's node looks for a state (null: the step never ran). */
export interface INodeStyle {
  /** CSS classes of the node group (`cp-DagNode-state-<state>` included). */
  className: string;
  /** The text of the state badge. */
  badge: string;
  /** The badge colour: a JupyterLab theme variable, so both themes work. */
  badgeColor: string;
  /** The outline is dashed: the step has not run (yet) in what is shown. */
  dashed: boolean;
  /** The node is faded: it will not run, or did not. */
  muted: boolean;
}

const BADGE_COLORS: { [state: string]: string } = {
  pending: 'var(--jp-ui-font-color2)',
  running: 'var(--jp-brand-color1)',
  cached: 'var(--jp-success-color2, var(--jp-success-color1))',
  done: 'var(--jp-success-color1)',
  failed: 'var(--jp-error-color1)',
  check_failed: 'var(--jp-error-color1)',
  skipped: 'var(--jp-ui-font-color3)',
  interrupted: 'var(--jp-warn-color1)',
  none: 'var(--jp-ui-font-color3)'
};

export function nodeStyle(state: StepState | null): INodeStyle {
  const key = state ?? 'none';
  return {
    className: `cp-DagNode cp-DagNode-step cp-DagNode-state-${key}`,
    badge: state === null ? 'not run' : state.replace('_', ' '),
    badgeColor: BADGE_COLORS[key] ?? BADGE_COLORS.none,
    dashed: state === null || state === 'pending',
    muted: state === 'skipped' || state === 'interrupted'
  };
}

/** A duration for a node: "0.4 s", "12 s", "2 min 05 s", "1 h 02 min". */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return '';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  }
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * The time a node shows: elapsed so far for a running step (the server's
 * figure at its last answer plus the time since), else how long it took;
 * nothing for a cached step (it took no time in this run).
 */
export function nodeTime(run: IStepRun | null, sinceAnswerMs = 0): string {
  if (!run || run.seconds === null) {
    return '';
  }
  if (run.state === 'running') {
    return formatSeconds(run.seconds + Math.max(0, sinceAnswerMs) / 1000);
  }
  if (run.state === 'cached') {
    return '';
  }
  return formatSeconds(run.seconds);
}
