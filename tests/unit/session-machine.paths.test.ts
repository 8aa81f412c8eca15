/**
 * Generated path tests for the session machine (@xstate/graph shortest paths, keyed by
 * transition; see machines/paths.ts). Every path is replayed — after a JSON round trip, as an
 * end-to-end runner would load it — on the machine provided with recording doubles, checking
 * after each step the state, the transition taken, the exact I/O calls, and that worker
 * control matches SPEC §6 (tests/support/machine-spec.ts). Fails if any transition computed
 * from the machine is not taken by some path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { deliversSynthesized, endToEndPaths, transitionPairs } from '../../machines/path-cover.js';
import { coverage, generatePaths, SAMPLE_EVENTS } from '../../machines/paths.js';
import type { PathStimulus, SessionPath } from '../../machines/paths.js';
import { BARGE_IN_POLICIES, clientStateOf, sessionMachine } from '../../machines/session-machine.js';
import type { ClientState } from '../../machines/session-machine.js';
import { listTransitions } from '../../machines/transitions.js';
import { names, notified, startRecordedSession, workerCalls } from '../support/machine-recorder.js';
import { expectedStateMessages, SPEC_ROWS, specRowsFor } from '../support/machine-spec.js';
import type { SpecRow } from '../support/machine-spec.js';

const generated = generatePaths();
/** What an end-to-end runner would load: plain JSON. */
const paths = JSON.parse(JSON.stringify(generated)) as SessionPath[];
const transitions = listTransitions(sessionMachine);

const describeStimulus = (s: PathStimulus): string => {
  if (s.kind === 'elapse') return `+${s.ms}ms(${s.delay})`;
  const { type, ...rest } = s.event;
  const args = Object.values(rest).map((v) => JSON.stringify(v));
  return args.length ? `${type}(${args.join(',')})` : type;
};

interface Observed {
  transitions: string[];
  rows: SpecRow[];
}

/**
 * Replays one path on the machine with recording doubles, asserting every step; returns the
 * transitions and SPEC rows this runner saw (coverage is measured here, not read from the data).
 */
function replayAndCheck(path: SessionPath): Observed {
  const observed: Observed = { transitions: [], rows: [] };
  const session = startRecordedSession(path.input);
  expect(session.state()).toBe(path.initial.state);
  expect(session.recorder.drain()).toEqual(path.initial.calls);
  session.takeTransitions();

  let from: ClientState = session.clientState();
  path.steps.forEach((step, i) => {
    const where = `${path.id} step ${i + 1} (${describeStimulus(step.stimulus)}) from ${from}`;
    session.apply(step.stimulus);
    const calls = session.recorder.drain();
    const taken = session.takeTransitions();
    const to = session.clientState();

    // The machine does what the path data says (so the data can drive an e2e replay).
    expect(taken, where).toHaveLength(1);
    expect(taken.join(' + '), where).toBe(step.transition);
    expect(session.state(), where).toBe(step.state);
    expect(to, where).toBe(step.clientState);
    expect(calls, where).toEqual(step.calls);
    observed.transitions.push(...taken);

    // ... and what SPEC §6 says.
    const rows = specRowsFor(from, step.stimulus, to, path.input).filter((r) => !r.ignored);
    expect(rows.map((r) => r.row), `${where} → ${to}: no SPEC row allows it`).not.toEqual([]);
    const worker = names(workerCalls(calls));
    const row = rows.find((r) => JSON.stringify(r.worker) === JSON.stringify(worker));
    expect(worker, `${where} → ${to}: worker control differs from SPEC (${rows.map((r) => r.row).join(' / ')})`).toEqual(
      [...(row ?? rows[0]!).worker],
    );
    observed.rows.push(row!);
    expect(notified(calls), `${where}: state messages`).toEqual(expectedStateMessages(from, to, row!));
    expect(
      names(calls).filter((n) => n === 'reportError'),
      `${where}: errors`,
    ).toEqual(row!.reportsError ? ['reportError'] : []);
    from = to;
  });
  if (from === 'TERMINATED') expect(session.actor.getSnapshot().status).toBe('done');
  session.actor.stop();
  return observed;
}

describe('session machine transitions (computed from the machine)', () => {
  it('has the SPEC §6 shape: top-level states, one delayed transition, no eventless ones', () => {
    expect(Object.keys(sessionMachine.root.states)).toEqual(['LISTENING', 'SPEAKING', 'BARGED_IN', 'TERMINATED']);
    expect(sessionMachine.root.states.TERMINATED!.type).toBe('final');
    const delayed = transitions.filter((t) => t.delay !== undefined);
    expect(delayed.map((t) => t.id)).toEqual(['BARGED_IN --after(maxBargeIn)--> LISTENING']);
    expect(delayed[0]!.eventType).toBe('xstate.after.maxBargeIn.session.BARGED_IN');
    expect(transitions.filter((t) => t.event === 'always')).toEqual([]);
    expect(new Set(transitions.map((t) => t.id)).size).toBe(transitions.length);
  });

  it('issues worker control only from transition actions, never from entry/exit', () => {
    const worker = ['startSynthesis', 'pauseWorker', 'resumeWorker', 'stopWorker', 'endWorkerSession'];
    const walk = (node: typeof sessionMachine.root): string[] => [
      ...[...node.entry, ...node.exit].map((a) =>
        typeof a === 'string' ? a : typeof a === 'object' && a && 'type' in a ? String(a.type) : '',
      ),
      ...Object.values(node.states).flatMap(walk),
    ];
    expect(walk(sessionMachine.root).filter((a) => worker.includes(a))).toEqual([]);
  });

  it('keeps machines/ free of imports from workers, transports and actors', () => {
    const dir = fileURLToPath(new URL('../../machines/', import.meta.url));
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(`${dir}${file}`, 'utf8');
      const imports = [...source.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
      for (const spec of imports) {
        expect(spec, `${file} imports ${spec}`).toMatch(/^(\.\/|xstate$|@xstate\/graph$)/);
      }
    }
  });
});

describe('generated paths', () => {
  it('exist for every barge-in policy and are plain JSON', () => {
    expect(paths).toEqual(generated);
    for (const policy of BARGE_IN_POLICIES) {
      expect(paths.some((p) => p.input.bargeInPolicy === policy)).toBe(true);
    }
  });

  describe.each(paths.map((p) => [`${p.id}: ${p.steps.map((s) => describeStimulus(s.stimulus)).join(' → ')}`, p] as const))(
    '%s',
    (_title, path) => {
      it('replays with the recorded states, transitions, I/O calls and SPEC §6 worker control', () => {
        replayAndCheck(path);
      });
    },
  );

  it('take every transition of the machine', () => {
    const observedTransitions = new Set(paths.flatMap((p) => replayAndCheck(p).transitions));
    const uncovered = transitions.map((t) => t.id).filter((id) => !observedTransitions.has(id));
    expect(uncovered, 'transitions no generated path takes').toEqual([]);
    const unknown = [...observedTransitions.keys()].filter((id) => !transitions.some((t) => t.id === id));
    expect(unknown).toEqual([]);
  });

  it('exercise every SPEC §6 row that has a transition', () => {
    const hitRows = new Set(paths.flatMap((p) => replayAndCheck(p).rows));
    const missed = SPEC_ROWS.filter((r) => !r.ignored && !hitRows.has(r)).map((r) => r.row);
    expect(missed).toEqual([]);
  });

  it('report the same coverage as `npm run paths`', () => {
    expect(coverage(generated)).toEqual({
      transitions: transitions.length,
      covered: transitions.length,
      paths: paths.length,
    });
  });
});

describe('the end-to-end subset (machines/path-cover.ts)', () => {
  const subset = endToEndPaths(generated);

  it('keeps every path without UTTERANCE.SYNTHESIZED, and fewer of those with it', () => {
    const plain = generated.filter((p) => !deliversSynthesized(p));
    expect(subset.filter((p) => !deliversSynthesized(p))).toEqual(plain);
    const ahead = subset.filter(deliversSynthesized).length;
    expect(ahead).toBeGreaterThan(0);
    expect(ahead).toBeLessThan(generated.length - plain.length);
  });

  it('takes every pair of consecutive transitions the whole set takes', () => {
    const pairsOf = (ps: SessionPath[]) => new Set(ps.flatMap((p) => [...transitionPairs(p)]));
    const kept = pairsOf(subset);
    const missing = [...pairsOf(generated)].filter((pair) => !kept.has(pair));
    expect(missing).toEqual([]);
  });
});

describe('events the session does not handle', () => {
  it('match an `ignored` SPEC row in every state reached, with no call and no state change', () => {
    const seen = new Set<string>();
    for (const path of paths) {
      for (let k = 0; k <= path.steps.length; k += 1) {
        const session = startRecordedSession(path.input);
        path.steps.slice(0, k).forEach((s) => session.apply(s.stimulus));
        const from = session.clientState();
        if (from === 'TERMINATED') continue;
        for (const event of SAMPLE_EVENTS) {
          const key = `${path.input.bargeInPolicy}|${session.state()}|${JSON.stringify(event)}`;
          if (seen.has(key)) continue;
          seen.add(key);
          if (sessionMachine.getTransitionData(session.actor.getSnapshot(), event).length > 0) continue;
          const stimulus: PathStimulus = { kind: 'event', event };
          const rows = specRowsFor(from, stimulus, from, path.input).filter((r) => r.ignored);
          expect(rows.map((r) => r.row), `${from} ignores ${JSON.stringify(event)}: no SPEC row says so`).not.toEqual([]);
          const before = session.state();
          session.recorder.drain();
          session.send(event);
          expect(session.state()).toBe(before);
          expect(clientStateOf(session.actor.getSnapshot().value)).toBe(from);
          expect(session.recorder.drain()).toEqual([]);
        }
        session.actor.stop();
      }
    }
    expect(seen.size).toBeGreaterThan(0);
  });
});
