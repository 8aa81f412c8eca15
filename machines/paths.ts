/**
 * Generated test paths for the session machine, and the transition coverage they reach.
 *
 * Paths come from `@xstate/graph`'s `getShortestPaths`, one traversal per barge-in policy (the
 * policy is machine input, so each is its own graph). The traversal's vertices are keyed BY
 * TRANSITION: a vertex is (state before, transition taken, state after, the bits of context
 * the guards read), so "a shortest path to every vertex" is "a path through every transition
 * from every state it can be taken in", guarded alternatives included, because the sample
 * events carry payloads for both sides of each guard (final / streamed / clause-completing
 * text, short / long speech, each control command, current / stale utterance ids).
 *
 * `after` transitions: `createTestModel` refuses machines with `after`, but the traversal
 * functions only call `machine.transition`, and XState v5 files a delayed transition under its
 * event `xstate.after.<delay>.<stateNodeId>`, so that event is simply one more sample event.
 * In the path data it becomes an `elapse` stimulus (advance the clock by the delay), which is
 * how both the unit runner (SimulatedClock) and an end-to-end runner (real time) produce it.
 *
 * Every path is then replayed on a real actor (SimulatedClock, recording I/O actions,
 * inspection of the transitions taken) to record what is expected after each step: the state,
 * the transition id, and the ordered I/O calls (state messages, worker control, errors). All
 * of it is plain JSON, so the same paths can drive the real orchestrator over WebSocket.
 *
 * Pure: no I/O, no real timers; importable from tests and scripts alike.
 */
import { getShortestPaths } from '@xstate/graph';
import { createActor, SimulatedClock } from 'xstate';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  BARGE_IN_POLICIES,
  DEFAULT_SESSION_INPUT,
  SESSION_IO_ACTIONS,
  clientStateOf,
  createSessionMachine,
  resolveSessionInput,
  sessionMachine,
  stateString,
} from './session-machine.js';
import type {
  ClientState,
  SessionContext,
  SessionEvent,
  SessionInput,
  SessionIo,
  SessionIoAction,
} from './session-machine.js';
import { enabledTransitionIds, listTransitions, transitionId } from './transitions.js';

/** What a path step does to the session: deliver an event, or let time pass. */
export type PathStimulus =
  | { kind: 'event'; event: SessionEvent }
  | { kind: 'elapse'; delay: string; ms: number };

/** One call of an I/O action, as the machine made it. */
export interface IoCall {
  action: SessionIoAction;
  params?: unknown;
}

export interface PathStep {
  stimulus: PathStimulus;
  /** Id (see `transitions.ts`) of the transition this step takes. */
  transition: string;
  /** Dotted state after the step, e.g. `SPEAKING.paused`. */
  state: string;
  /** What the client is told the state is (`SPEAKING.paused` → `PAUSED`). */
  clientState: ClientState;
  /** Ordered I/O calls the step makes (state messages, worker control, errors). */
  calls: IoCall[];
}

export interface SessionPath {
  id: string;
  input: Required<SessionInput>;
  /** The session as it starts, before the first step. */
  initial: { state: string; clientState: ClientState; calls: IoCall[] };
  steps: PathStep[];
}

export interface Coverage {
  transitions: number;
  covered: number;
  paths: number;
}

export interface CoverageDetail extends Coverage {
  uncovered: string[];
  /** Steps taking each transition, over all paths. */
  hits: Record<string, number>;
}

/** Representative payloads: both sides of every guard. */
export const SAMPLE_EVENTS: readonly SessionEvent[] = [
  { type: 'TEXT', text: 'Hello there.', isFinal: true },
  { type: 'TEXT', text: 'Well', isFinal: false },
  { type: 'TEXT', text: ' so, here we go', isFinal: false },
  { type: 'VAD.SPEECH_START', at: 1000 },
  { type: 'VAD.SPEECH_END', at: 1300, speechMs: 300 },
  { type: 'VAD.SPEECH_END', at: 2500, speechMs: 1500 },
  { type: 'UTTERANCE.DONE' },
  { type: 'UTTERANCE.DONE', utteranceId: 'u0' },
  { type: 'UTTERANCE.SYNTHESIZED' },
  { type: 'UTTERANCE.SYNTHESIZED', utteranceId: 'u0' },
  { type: 'CONTROL', command: 'PAUSE' },
  { type: 'CONTROL', command: 'RESUME' },
  { type: 'CONTROL', command: 'STOP' },
  { type: 'WORKER.ERROR', message: 'worker unavailable', retryable: true },
  { type: 'TRANSPORT.CLOSED' },
];

type GraphEvent = SessionEvent | DelayedEvent;
interface DelayedEvent extends EventObject {
  type: `xstate.after.${string}`;
}

/** The `xstate.after.*` events of the machine's delayed transitions, with their delay names. */
function delayedEvents(): Map<string, string | number> {
  const map = new Map<string, string | number>();
  for (const t of listTransitions(sessionMachine)) {
    if (t.delay !== undefined) map.set(t.eventType, t.delay);
  }
  return map;
}

/** The context the guards read, abstracted to finitely many values. */
function abstractContext(context: SessionContext) {
  return {
    queued: Math.min(context.queue.length, 2),
    buffered: context.buffer !== '',
    ahead: context.ahead !== null,
    synthesizing: context.synthesizing !== null,
  };
}

function resolveDelayMs(delay: string | number, snapshot: AnyMachineSnapshot, event: EventObject): number {
  if (typeof delay === 'number') return delay;
  const impl: unknown = sessionMachine.implementations.delays[delay];
  const ms =
    typeof impl === 'function'
      ? (impl as (args: { context: unknown; event: EventObject }) => number)({
          context: snapshot.context,
          event,
        })
      : impl;
  if (typeof ms !== 'number') throw new Error(`delay ${delay} does not resolve to a number`);
  return ms;
}

/** Drop paths whose event sequence is a prefix of another path's. */
function dropPrefixPaths<T>(paths: T[][], key: (step: T) => string): T[][] {
  const keyed = paths.map((p) => ({ p, k: p.map(key) }));
  return keyed
    .filter(
      ({ k }, i) =>
        !keyed.some(
          (other, j) =>
            j !== i &&
            other.k.length >= k.length &&
            (other.k.length > k.length || j < i) &&
            k.every((s, n) => other.k[n] === s),
        ),
    )
    .map(({ p }) => p);
}

interface Replayed {
  initial: SessionPath['initial'];
  steps: PathStep[];
}

/**
 * Replays stimuli on a real actor with a SimulatedClock and recording I/O actions, recording
 * per step the transitions taken, the state reached and the I/O calls made.
 */
export function replayPath(
  input: SessionInput,
  stimuli: readonly PathStimulus[],
): Replayed {
  let calls: IoCall[] = [];
  const record =
    (action: SessionIoAction) =>
    (params: unknown): void => {
      calls.push(params === undefined ? { action } : { action, params: structuredClone(params) });
    };
  const io = Object.fromEntries(SESSION_IO_ACTIONS.map((a) => [a, record(a)])) as unknown as SessionIo;
  const machine = createSessionMachine(io);
  let taken: string[] = [];
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    input,
    clock,
    inspect: (ev) => {
      if (ev.type !== '@xstate.microstep' || ev.actorRef !== actor) return;
      for (const def of ev._transitions) {
        const id = transitionId(machine, def);
        if (id) taken.push(id);
      }
    },
  });
  actor.start();
  const first = actor.getSnapshot();
  const initial = {
    state: stateString(first.value),
    clientState: clientStateOf(first.value),
    calls,
  };
  const steps: PathStep[] = [];
  for (const stimulus of stimuli) {
    calls = [];
    taken = [];
    if (stimulus.kind === 'event') actor.send(stimulus.event);
    else clock.increment(stimulus.ms);
    const snapshot = actor.getSnapshot();
    steps.push({
      stimulus,
      transition: taken.join(' + '),
      state: stateString(snapshot.value),
      clientState: clientStateOf(snapshot.value),
      calls,
    });
  }
  actor.stop();
  return { initial, steps };
}

/** Shortest paths (per policy) through every transition-keyed vertex of the machine graph. */
export function generatePaths(): SessionPath[] {
  const delays = delayedEvents();
  const events: GraphEvent[] = [
    ...SAMPLE_EVENTS,
    ...[...delays.keys()].map((type) => ({ type }) as DelayedEvent),
  ];
  const paths: SessionPath[] = [];
  for (const bargeInPolicy of BARGE_IN_POLICIES) {
    const input = resolveSessionInput({ ...DEFAULT_SESSION_INPUT, bargeInPolicy });
    const graphPaths = getShortestPaths(sessionMachine, {
      input,
      // Offer only events that some transition takes, so every vertex is a transition.
      events: (snapshot) =>
        events.filter((e) => sessionMachine.getTransitionData(snapshot, e as SessionEvent).length > 0) as SessionEvent[],
      serializeState: (snapshot, event, prev) =>
        JSON.stringify({
          from: prev ? prev.value : null,
          via: prev && event ? enabledTransitionIds(sessionMachine, prev, event) : [],
          value: snapshot.value,
          ...abstractContext(snapshot.context),
        }),
    });
    // `steps[0]` is the initial state; `steps[i]` is (event i, state after it).
    const sequences = graphPaths
      .map((p) =>
        p.steps.slice(1).map((step, i) => ({
          event: step.event as GraphEvent,
          before: p.steps[i]!.state,
          after: step.state,
        })),
      )
      .filter((seq) => seq.length > 0);
    const kept = dropPrefixPaths(sequences, (s) => JSON.stringify(s.event));
    kept.forEach((seq, n) => {
      const stimuli: PathStimulus[] = seq.map(({ event, before }) => {
        const delay = delays.get(event.type);
        return delay === undefined
          ? { kind: 'event', event: event as SessionEvent }
          : { kind: 'elapse', delay: String(delay), ms: resolveDelayMs(delay, before, event) };
      });
      const replayed = replayPath(input, stimuli);
      // The actor must agree with the graph on every step (state and single transition taken).
      replayed.steps.forEach((step, i) => {
        const expectedState = stateString(seq[i]!.after.value);
        const expectedTransition = enabledTransitionIds(
          sessionMachine,
          seq[i]!.before,
          seq[i]!.event as SessionEvent,
        ).join(' + ');
        if (step.state !== expectedState || step.transition !== expectedTransition) {
          throw new Error(
            `path ${bargeInPolicy}/${n + 1} step ${i + 1}: actor reached ${step.state} via ` +
              `"${step.transition}", graph predicts ${expectedState} via "${expectedTransition}"`,
          );
        }
      });
      paths.push({
        id: `${bargeInPolicy}/${String(n + 1).padStart(3, '0')}`,
        input,
        initial: replayed.initial,
        steps: replayed.steps,
      });
    });
  }
  return paths;
}

/** Transition coverage of the given (default: generated) paths, in detail. */
export function coverageDetail(paths: readonly SessionPath[] = generatePaths()): CoverageDetail {
  const all = listTransitions(sessionMachine).map((t) => t.id);
  const hits: Record<string, number> = Object.fromEntries(all.map((id) => [id, 0]));
  for (const path of paths) {
    for (const step of path.steps) {
      for (const id of step.transition.split(' + ')) {
        if (id in hits) hits[id]! += 1;
      }
    }
  }
  const uncovered = all.filter((id) => hits[id] === 0);
  return {
    transitions: all.length,
    covered: all.length - uncovered.length,
    paths: paths.length,
    uncovered,
    hits,
  };
}

/** `{ transitions: N, covered: K, paths: P }` for the generated paths. */
export function coverage(paths: readonly SessionPath[] = generatePaths()): Coverage {
  const { transitions, covered, paths: count } = coverageDetail(paths);
  return { transitions, covered, paths: count };
}
