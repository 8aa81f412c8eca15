/**
 * Recording doubles for the session machine's I/O actions, and a session runner on a
 * SimulatedClock that also records which transitions each step takes (via inspection).
 *
 * The doubles go in through `sessionMachine.provide({ actions })`, exactly the way production
 * wires its real implementations.
 */
import { createActor, SimulatedClock } from 'xstate';
import type { Actor } from 'xstate';
import {
  clientStateOf,
  SESSION_IO_ACTIONS,
  sessionMachine,
  stateString,
  WORKER_CONTROL_ACTIONS,
} from '../../machines/session-machine.js';
import type {
  ClientState,
  SessionEvent,
  SessionInput,
  SessionIoAction,
  SessionMachine,
} from '../../machines/session-machine.js';
import type { PathStimulus } from '../../machines/paths.js';
import { transitionId } from '../../machines/transitions.js';

export interface RecordedCall {
  action: SessionIoAction;
  params?: unknown;
}

type ProvidedActions = NonNullable<Parameters<SessionMachine['provide']>[0]['actions']>;

export interface Recorder {
  /** Every call so far, in order. */
  readonly calls: RecordedCall[];
  /** The implementations to `provide`. */
  readonly actions: ProvidedActions;
  /** Returns the calls since the last drain and forgets them. */
  drain(): RecordedCall[];
}

export function createRecorder(): Recorder {
  const calls: RecordedCall[] = [];
  let drained = 0;
  const actions = Object.fromEntries(
    SESSION_IO_ACTIONS.map((action) => [
      action,
      (_args: unknown, params: unknown) => {
        calls.push(params === undefined ? { action } : { action, params: structuredClone(params) });
      },
    ]),
  ) as unknown as ProvidedActions;
  return {
    calls,
    actions,
    drain() {
      const fresh = calls.slice(drained);
      drained = calls.length;
      return fresh;
    },
  };
}

export const names = (calls: readonly RecordedCall[]): string[] => calls.map((c) => c.action);
export const workerCalls = (calls: readonly RecordedCall[]): RecordedCall[] =>
  calls.filter((c) => WORKER_CONTROL_ACTIONS.includes(c.action));
export const notified = (calls: readonly RecordedCall[]): ClientState[] =>
  calls.filter((c) => c.action === 'notifyState').map((c) => (c.params as { state: ClientState }).state);

export interface RecordedSession {
  actor: Actor<SessionMachine>;
  clock: SimulatedClock;
  recorder: Recorder;
  machine: SessionMachine;
  /** Transition ids taken since the last `takeTransitions()`. */
  takeTransitions(): string[];
  send(event: SessionEvent): void;
  /** Apply a path stimulus: send its event, or advance the clock. */
  apply(stimulus: PathStimulus): void;
  /** Dotted state, e.g. `SPEAKING.paused`. */
  state(): string;
  clientState(): ClientState;
}

/** A started session actor with recording doubles and a SimulatedClock. */
export function startRecordedSession(input?: SessionInput): RecordedSession {
  const recorder = createRecorder();
  const machine = sessionMachine.provide({ actions: recorder.actions });
  const clock = new SimulatedClock();
  let taken: string[] = [];
  const actor: Actor<SessionMachine> = createActor(machine, {
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
  return {
    actor,
    clock,
    recorder,
    machine,
    takeTransitions() {
      const out = taken;
      taken = [];
      return out;
    },
    send: (event) => actor.send(event),
    apply(stimulus) {
      if (stimulus.kind === 'event') actor.send(stimulus.event);
      else clock.increment(stimulus.ms);
    },
    state: () => stateString(actor.getSnapshot().value),
    clientState: () => clientStateOf(actor.getSnapshot().value),
  };
}
