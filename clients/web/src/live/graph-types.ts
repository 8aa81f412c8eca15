/**
 * The session machine as a drawable graph: computed from the machine itself and laid out at
 * build time (clients/web/build/session-graph.ts), so the live view only draws SVG and needs
 * no layout library or network at run time. All coordinates are absolute, in pixels.
 */
export interface GraphPoint {
  x: number;
  y: number;
}

export interface GraphNode {
  /** Dotted state path: `LISTENING`, `SPEAKING.paused`. */
  id: string;
  /** What the box says: the state's key. */
  label: string;
  /** The client-visible name when it differs (`SPEAKING.paused` is `PAUSED`). */
  clientState: string | null;
  parent: string | null;
  /** A compound state (its children are drawn inside it). */
  compound: boolean;
  initial: boolean;
  final: boolean;
  description: string | null;
  /** Transitions without a target (they stay in the state): one line each, e.g. `TEXT / bufferText`. */
  internal: string[];
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** The event types this edge is taken on (for highlighting the transition just taken). */
  events: string[];
  /** One line per transition: `EVENT [guard] / workerAction`. */
  lines: string[];
  /** The transition ids (machines/transitions.ts) drawn by this edge. */
  transitions: string[];
  /** Polyline: start, bend points, end. */
  points: GraphPoint[];
  label: { x: number; y: number; width: number; height: number };
}

export interface SessionGraph {
  machineId: string;
  width: number;
  height: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Label font metrics the layout assumed (the SVG must use the same). */
  font: { size: number; lineHeight: number; family: string };
}
