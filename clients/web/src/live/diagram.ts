/**
 * Draws the session machine (the build-time graph) as SVG and highlights one session on it:
 * its active state (and the compound state around it) and the transition it just took.
 */
import type { GraphEdge, GraphNode, SessionGraph } from './graph-types.js';

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number> = {}, parent?: Element): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.append(e);
  return e;
}

export class MachineDiagram {
  readonly svg: SVGSVGElement;
  private readonly nodeEls = new Map<string, SVGGElement>();
  private readonly edgeEls = new Map<string, SVGGElement>();

  constructor(private readonly graph: SessionGraph) {
    const { width, height, font } = graph;
    this.svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'diagram', role: 'img', 'aria-label': `${graph.machineId} state machine` });
    this.svg.style.setProperty('--diagram-font', font.family);
    const defs = el('defs', {}, this.svg);
    // userSpaceOnUse: a highlighted (thicker) edge keeps the same arrowhead.
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }, marker);
    const nodes = [...graph.nodes].sort((a, b) => depth(a) - depth(b));
    const nodeLayer = el('g', { class: 'nodes' }, this.svg);
    for (const n of nodes) this.nodeEls.set(n.id, this.drawNode(n, nodeLayer));
    const edgeLayer = el('g', { class: 'edges' }, this.svg);
    for (const e of graph.edges) this.edgeEls.set(e.id, this.drawEdge(e, edgeLayer));
  }

  private drawNode(n: GraphNode, parent: SVGGElement): SVGGElement {
    const { font } = this.graph;
    const g = el('g', { class: `node${n.compound ? ' compound' : ''}${n.final ? ' final' : ''}`, 'data-state': n.id }, parent);
    el('rect', { x: n.x, y: n.y, width: n.width, height: n.height, rx: 8 }, g);
    if (n.final) el('rect', { x: n.x + 3, y: n.y + 3, width: n.width - 6, height: n.height - 6, rx: 6, class: 'inner' }, g);
    const title = el('text', { x: n.x + 8, y: n.y + 16, class: 'title' }, g);
    title.textContent = n.label;
    if (n.clientState && n.clientState !== n.label) {
      const tag = el('tspan', { class: 'client-state', dx: 6 }, title);
      tag.textContent = `(${n.clientState})`;
    }
    if (n.internal.length) el('line', { x1: n.x, x2: n.x + n.width, y1: n.y + 22, y2: n.y + 22, class: 'divider' }, g);
    n.internal.forEach((line, i) => {
      const t = el('text', { x: n.x + 8, y: n.y + 22 + 8 + (i + 1) * font.lineHeight - 3, class: 'internal' }, g);
      t.textContent = line;
    });
    if (n.initial) {
      const cx = n.x - 14;
      const cy = n.y + 11;
      el('circle', { cx, cy, r: 4, class: 'initial' }, g);
      el('line', { x1: cx + 4, y1: cy, x2: n.x - 1, y2: cy, class: 'initial-arrow', 'marker-end': 'url(#arrow)' }, g);
    }
    const tip = el('title', {}, g);
    tip.textContent = n.description ?? n.id;
    return g;
  }

  private drawEdge(e: GraphEdge, parent: SVGGElement): SVGGElement {
    const { font } = this.graph;
    const g = el('g', { class: 'edge', 'data-edge': e.id, 'data-events': e.events.join(' ') }, parent);
    el('polyline', { points: e.points.map((p) => `${p.x},${p.y}`).join(' '), 'marker-end': 'url(#arrow)' }, g);
    const { x, y, width, height } = e.label;
    el('rect', { x, y, width, height, rx: 3, class: 'label-bg' }, g);
    e.lines.forEach((line, i) => {
      const t = el('text', { x: x + 3, y: y + 2 + (i + 1) * font.lineHeight - 3, class: 'label' }, g);
      t.textContent = line;
    });
    return g;
  }

  /** Highlights `state` (a dotted path) and, if given, the edge of the transition just taken. */
  highlight(state: string | null, last: { from: string; to: string; event: string } | null): void {
    for (const [id, g] of this.nodeEls) {
      const active = state !== null && (state === id || state.startsWith(`${id}.`));
      g.classList.toggle('active', active);
      g.classList.toggle('current', state === id);
    }
    const edge = last ? this.edgeFor(last) : null;
    for (const [id, g] of this.edgeEls) g.classList.toggle('taken', edge?.id === id);
  }

  /** The drawn edge of a transition: the same event between the states or their ancestors. */
  private edgeFor(last: { from: string; to: string; event: string }): GraphEdge | null {
    const within = (path: string, node: string) => path === node || path.startsWith(`${node}.`);
    // The most specific edge first (SPEAKING.paused before SPEAKING).
    const candidates = this.graph.edges
      .filter((e) => within(last.from, e.source) && within(last.to, e.target))
      .sort((a, b) => b.source.length + b.target.length - (a.source.length + a.target.length));
    return candidates.find((e) => e.events.includes(last.event)) ?? candidates[0] ?? null;
  }
}

function depth(n: GraphNode): number {
  return n.id.split('.').length;
}
