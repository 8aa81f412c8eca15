import { describe, expect, it } from 'vitest';
import { buildSessionGraph, wrap } from '../../clients/web/build/session-graph.js';
import { sessionMachine } from '../../machines/session-machine.js';
import { listTransitions } from '../../machines/transitions.js';

describe('the live view diagram, computed from the session machine at build time', () => {
  it('draws every state and every transition that changes state, each exactly once', async () => {
    const g = await buildSessionGraph(sessionMachine);
    expect(g.nodes.map((n) => n.id).sort()).toEqual(['BARGED_IN', 'LISTENING', 'SPEAKING', 'SPEAKING.paused', 'SPEAKING.playing', 'TERMINATED']);
    const drawn = g.edges.flatMap((e) => e.transitions).sort();
    const targeted = listTransitions(sessionMachine).filter((t) => t.targets.length > 0).map((t) => t.id).sort();
    expect(drawn).toEqual(targeted);
    // Targetless transitions are listed inside their state instead.
    expect(g.nodes.find((n) => n.id === 'LISTENING')?.internal).toEqual(['TEXT', 'CONTROL STOP', 'WORKER.ERROR']);
    expect(g.nodes.find((n) => n.id === 'LISTENING')?.initial).toBe(true);
    expect(g.nodes.find((n) => n.id === 'SPEAKING.playing')).toMatchObject({ initial: true, clientState: 'SPEAKING', parent: 'SPEAKING' });
    expect(g.nodes.find((n) => n.id === 'TERMINATED')?.final).toBe(true);
    // Worker control shows on the transition that does it.
    const bargeIn = g.edges.find((e) => e.source === 'SPEAKING.playing' && e.target === 'BARGED_IN');
    expect(bargeIn?.lines.join(' ')).toContain('VAD.SPEECH_START / pauseWorker');
  });

  it('lays it out: every box inside the drawing, children inside their parent, siblings apart, edges routed', async () => {
    const g = await buildSessionGraph(sessionMachine);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    for (const n of g.nodes) {
      expect(n.width).toBeGreaterThan(0);
      expect(n.x).toBeGreaterThanOrEqual(0);
      expect(n.y + n.height).toBeLessThanOrEqual(g.height);
      expect(n.x + n.width).toBeLessThanOrEqual(g.width);
      const p = n.parent ? byId.get(n.parent) : undefined;
      if (p) {
        expect(n.x).toBeGreaterThan(p.x);
        expect(n.y + n.height).toBeLessThan(p.y + p.height);
      }
    }
    for (const a of g.nodes) {
      for (const b of g.nodes) {
        if (a === b || a.parent !== b.parent) continue;
        const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
        expect(overlap, `${a.id} overlaps ${b.id}`).toBe(false);
      }
    }
    for (const e of g.edges) {
      expect(e.points.length, e.id).toBeGreaterThanOrEqual(2);
      for (const p of e.points) expect(Number.isFinite(p.x) && Number.isFinite(p.y)).toBe(true);
      expect(e.label.width).toBeGreaterThan(0);
    }
  });

  it('wraps long label lines at word boundaries', () => {
    expect(wrap('VAD.SPEECH_END [policyResumes | policyResumesIfShort && isShortInterjection] / resumeWorker', 34)).toEqual([
      'VAD.SPEECH_END [policyResumes |',
      '  policyResumesIfShort &&',
      '  isShortInterjection] /',
      '  resumeWorker',
    ]);
    expect(wrap('short', 34)).toEqual(['short']);
  });
});
