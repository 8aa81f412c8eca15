/**
 * Build-time: the session machine (machines/session-machine.ts) turned into a laid-out graph for
 * the live session view. Nodes come from the machine's state-node tree, edges from
 * `listTransitions` (the same table the path-coverage check uses), so the drawing cannot drift
 * from the machine. ELK lays it out here, in Node, and the page receives plain JSON.
 */
import elkModule from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { WORKER_CONTROL_ACTIONS } from '../../../machines/session-machine.js';
import { listTransitions, statePath, type MachineTransition } from '../../../machines/transitions.js';
import type { GraphEdge, GraphNode, SessionGraph } from '../src/live/graph-types.js';

const FONT = { size: 11, lineHeight: 14, family: 'DejaVu Sans Mono, Menlo, Consolas, monospace' };
/** Monospace: every character is 0.6 em wide, so label boxes can be sized without a browser. */
const CHAR_W = FONT.size * 0.6;
const PAD = 8;
const TITLE_H = 22;
/** Label lines wrap at this many characters, which keeps the drawing compact. */
const WRAP = 34;

const workerActions = new Set<string>(WORKER_CONTROL_ACTIONS);
// elkjs is CommonJS whose typings declare an ES default export; at run time both forms exist.
const ELK = elkModule.default;

/** `isCommand(STOP)` reads better as `STOP`, `and(a, b)` as `a && b`. */
function guardText(guard: string): string {
  const command = /^isCommand\((\w+)\)$/.exec(guard);
  if (command) return command[1] as string;
  const and = /^and\((.*)\)$/.exec(guard);
  if (and) return (and[1] as string).split(', ').join(' && ');
  return guard;
}

function eventText(t: MachineTransition): string {
  if (!t.guard) return t.event;
  return t.event === 'CONTROL' ? `${t.event} ${guardText(t.guard)}` : `${t.event} [${guardText(t.guard)}]`;
}

/**
 * The lines of one edge: one per event, guards merged (`TEXT [isFinalText | hasClauseBoundary]`),
 * with the worker-control actions the transition runs (`/ pauseWorker`).
 */
function edgeLines(ts: MachineTransition[]): string[] {
  const byEvent = new Map<string, MachineTransition[]>();
  for (const t of ts) {
    const key = t.event === 'CONTROL' ? eventText(t) : t.event;
    byEvent.set(key, [...(byEvent.get(key) ?? []), t]);
  }
  return [...byEvent.entries()].map(([key, group]) => {
    const guards = group.map((t) => t.guard).filter((g): g is string => g !== null);
    const head = key.startsWith('CONTROL') || guards.length === 0 ? key : `${key} [${guards.map(guardText).join(' | ')}]`;
    const io = [...new Set(group.flatMap((t) => t.actions.filter((a) => workerActions.has(a))))];
    return io.length ? `${head} / ${io.join(', ')}` : head;
  });
}

/** Targetless transitions stay in the state: listed inside its box, one line per event. */
function internalLines(ts: MachineTransition[]): string[] {
  const lines: string[] = [];
  for (const t of ts) {
    const guarded = t.event !== 'CONTROL' && t.guard !== null && t.actions.length === 0;
    // A guarded targetless transition with no action is a forbidden one: say so.
    const line = guarded ? `${eventText(t)} (ignored)` : eventText(t).replace(/ \[.*\]$/, '');
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** Greedy word wrap at `max` characters; continuation lines are indented. */
export function wrap(line: string, max = WRAP): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    const next = current ? `${current} ${word}` : word;
    if (next.length > max && current) {
      out.push(current);
      current = `  ${word}`;
    } else current = next;
  }
  if (current) out.push(current);
  return out;
}

const textWidth = (lines: string[]) => Math.max(0, ...lines.map((l) => l.length)) * CHAR_W;

/** The client-visible state name of a state path (mirrors clientStateOf). */
function clientStateOfPath(path: string): string | null {
  if (path === 'SPEAKING.paused') return 'PAUSED';
  if (path === 'SPEAKING.playing') return 'SPEAKING';
  return null;
}

export async function buildSessionGraph(machine: AnyStateMachine, layoutOverrides: Record<string, string> = {}): Promise<SessionGraph> {
  const transitions = listTransitions(machine);
  const nodes = new Map<string, Omit<GraphNode, 'x' | 'y' | 'width' | 'height'>>();
  const walk = (node: AnyStateNode, parent: string | null) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      const id = statePath(child);
      const initialKey = (node.config as { initial?: string }).initial;
      nodes.set(id, {
        id,
        label: child.key,
        clientState: clientStateOfPath(id),
        parent,
        compound: Object.keys(child.states).length > 0,
        initial: initialKey === child.key,
        final: child.type === 'final',
        description: child.description ?? null,
        internal: internalLines(transitions.filter((t) => t.source === id && t.targets.length === 0)),
      });
      walk(child, id);
    }
  };
  walk(machine.root, null);

  // One edge per (source, target): its lines are the transitions between the two.
  const grouped = new Map<string, MachineTransition[]>();
  for (const t of transitions) {
    const target = t.targets[0];
    if (!target) continue;
    const key = `${t.source}->${target}`;
    grouped.set(key, [...(grouped.get(key) ?? []), t]);
  }
  const edgeMap = new Map<string, Omit<GraphEdge, 'points' | 'label'>>();
  for (const [key, ts] of grouped) {
    const first = ts[0] as MachineTransition;
    edgeMap.set(key, {
      id: `e${edgeMap.size}`,
      source: first.source,
      target: first.targets[0] as string,
      events: [...new Set(ts.map((t) => t.eventType))],
      lines: edgeLines(ts).flatMap((l) => wrap(l)),
      transitions: ts.map((t) => t.id),
    });
  }

  const elkNode = (id: string): ElkNode => {
    const n = nodes.get(id)!;
    const children = [...nodes.values()].filter((c) => c.parent === id).map((c) => elkNode(c.id));
    const titleW = (n.label.length + (n.clientState && n.clientState !== n.label ? n.clientState.length + 3 : 0)) * (CHAR_W + 1.5);
    const bodyLines = n.internal.length;
    const width = Math.max(110, titleW, textWidth(n.internal)) + 2 * PAD;
    const height = TITLE_H + bodyLines * FONT.lineHeight + 2 * PAD;
    return children.length
      ? {
          id,
          children,
          layoutOptions: {
            'elk.padding': `[top=${TITLE_H + bodyLines * FONT.lineHeight + 2 * PAD},left=${PAD * 2},bottom=${PAD * 2},right=${PAD * 2}]`,
            'elk.nodeSize.constraints': 'MINIMUM_SIZE',
            'elk.nodeSize.minimum': `(${width}, ${height})`,
          },
        }
      : { id, width, height };
  };

  const edges: ElkExtendedEdge[] = [...edgeMap.values()].map((e) => ({
    id: e.id,
    sources: [e.source],
    targets: [e.target],
    labels: [{ id: `${e.id}-label`, text: e.lines.join('\n'), width: textWidth(e.lines) + 6, height: e.lines.length * FONT.lineHeight + 4 }],
  }));

  const root: ElkNode = {
    id: '(machine)',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.nodeNode': '30',
      // Keep the machine's own order (LISTENING, SPEAKING, BARGED_IN, TERMINATED) top to bottom.
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.cycleBreaking.strategy': 'MODEL_ORDER',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeEdge': '14',
      'elk.edgeLabels.inline': 'false',
      'elk.layered.edgeLabels.sideSelection': 'ALWAYS_DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.padding': '[top=24,left=24,bottom=24,right=24]',
      // Every coordinate absolute, so the page needs no tree walk to place things.
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      ...layoutOverrides,
    },
    children: [...nodes.values()].filter((n) => n.parent === null).map((n) => elkNode(n.id)),
    edges,
  };

  const laid = await new ELK().layout(root);
  const placed = new Map<string, ElkNode>();
  const collect = (n: ElkNode) => {
    for (const c of n.children ?? []) {
      placed.set(c.id, c);
      collect(c);
    }
  };
  collect(laid);
  const allEdges: ElkExtendedEdge[] = [];
  const collectEdges = (n: ElkNode) => {
    allEdges.push(...(n.edges ?? []));
    for (const c of n.children ?? []) collectEdges(c);
  };
  collectEdges(laid);

  return {
    machineId: machine.id,
    width: Math.ceil(laid.width ?? 0),
    height: Math.ceil(laid.height ?? 0),
    font: FONT,
    nodes: [...nodes.values()].map((n) => {
      const p = placed.get(n.id)!;
      return { ...n, x: p.x ?? 0, y: p.y ?? 0, width: p.width ?? 0, height: p.height ?? 0 };
    }),
    edges: [...edgeMap.values()].map((e) => {
      const laidEdge = allEdges.find((x) => x.id === e.id);
      const section = laidEdge?.sections?.[0];
      const label = laidEdge?.labels?.[0];
      return {
        ...e,
        points: section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [],
        label: { x: label?.x ?? 0, y: label?.y ?? 0, width: label?.width ?? 0, height: label?.height ?? 0 },
      };
    }),
  };
}
