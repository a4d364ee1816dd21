/**
 * Lay the pipeline graph out with elkjs (layered algorithm; see graph.ts for
 * why) and flatten the answer into what the SVG view draws: boxes, polylines
 * and label boxes in one coordinate space. elkjs is loaded on first use, so
 * JupyterLab does not pay for it until a pipeline view opens.
 */
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs';

import { IDagEdge, IDagModel, IDagNode, toElkGraph } from './graph';

export interface IPoint {
  x: number;
  y: number;
}

export interface IPlacedNode extends IDagNode {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IPlacedLabel {
  text: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface IPlacedEdge extends IDagEdge {
  /** The route: start, bends, end. */
  points: IPoint[];
  label: IPlacedLabel | null;
}

export interface IDagLayout {
  width: number;
  height: number;
  nodes: IPlacedNode[];
  edges: IPlacedEdge[];
}

let elk: Promise<ELK> | null = null;

/** One ELK instance for the page (the bundled build runs without a worker). */
function getElk(): Promise<ELK> {
  if (!elk) {
    elk = import('elkjs/lib/elk.bundled.js').then(
      module => new ((module as any).default ?? module)() as ELK
    );
  }
  return elk;
}

/** Flatten elkjs's answer into absolute boxes and routes. */
export function placed(model: IDagModel, graph: ElkNode): IDagLayout {
  const byId = new Map((graph.children ?? []).map(c => [c.id, c]));
  const nodes: IPlacedNode[] = model.nodes.map(node => {
    const box = byId.get(node.id);
    return {
      ...node,
      x: box?.x ?? 0,
      y: box?.y ?? 0,
      width: box?.width ?? 0,
      height: box?.height ?? 0
    };
  });
  const edgeById = new Map(
    ((graph.edges ?? []) as ElkExtendedEdge[]).map(e => [e.id, e])
  );
  const edges: IPlacedEdge[] = model.edges.map(edge => {
    const laid = edgeById.get(edge.id);
    const points: IPoint[] = [];
    for (const section of laid?.sections ?? []) {
      points.push(section.startPoint, ...(section.bendPoints ?? []));
      points.push(section.endPoint);
    }
    const l = laid?.labels?.[0];
    return {
      ...edge,
      points,
      label:
        l && l.text
          ? {
              text: l.text,
              x: l.x ?? 0,
              y: l.y ?? 0,
              width: l.width ?? 0,
              height: l.height ?? 0
            }
          : null
    };
  });
  return {
    width: graph.width ?? 0,
    height: graph.height ?? 0,
    nodes,
    edges
  };
}

/** Lay out a pipeline graph. */
export async function layoutDag(model: IDagModel): Promise<IDagLayout> {
  if (model.nodes.length === 0) {
    return { width: 0, height: 0, nodes: [], edges: [] };
  }
  const engine = await getElk();
  const graph = await engine.layout(toElkGraph(model));
  return placed(model, graph);
}
