/**
 * SPEC §6 as a test oracle, written from the contract (and the decisions documented at the
 * top of machines/session-machine.ts), NOT from the machine's code.
 *
 * Each row says: from this client-visible state, on this stimulus (and condition), the session
 * may go to this state, issuing exactly this worker control, in this order. The path tests
 * check every step of every generated path against these rows, and that every row with a
 * transition is exercised; `ignored` rows list what the session must not react to at all.
 */
import type { ClientState, SessionEvent, SessionInput } from '../../machines/session-machine.js';
import type { PathStimulus } from '../../machines/paths.js';

export type WorkerControl = 'startSynthesis' | 'pauseWorker' | 'resumeWorker' | 'stopWorker' | 'endWorkerSession';

export interface SpecRow {
  /** The SPEC §6 row, or the documented decision, this row encodes. */
  row: string;
  from: readonly ClientState[];
  on: (stimulus: PathStimulus) => boolean;
  /** Extra condition on the stimulus and the session's input (policy, limits). */
  when?: (stimulus: PathStimulus, input: Required<SessionInput>) => boolean;
  /** Where the session goes; `same` = stays where it is. */
  to: ClientState | 'same';
  /** Worker control, in order. */
  worker: readonly WorkerControl[];
  /** An error message goes to the client. */
  reportsError?: boolean;
  /** The stimulus is not handled at all: no transition, no call. */
  ignored?: boolean;
  /**
   * Whether the client gets a state message; by default when the state changes or an utterance
   * starts. A synthesis started ahead is not announced (its utterance starts at the current one's
   * done, which is announced though it starts no synthesis).
   */
  announces?: boolean;
}

type EventOf<T extends SessionEvent['type']> = Extract<SessionEvent, { type: T }>;

const eventOf =
  <T extends SessionEvent['type']>(type: T) =>
  (s: PathStimulus): boolean =>
    s.kind === 'event' && s.event.type === type;
const payload = <T extends SessionEvent['type']>(s: PathStimulus, type: T): EventOf<T> | null =>
  s.kind === 'event' && s.event.type === type ? (s.event as EventOf<T>) : null;
const command = (cmd: 'PAUSE' | 'RESUME' | 'STOP') => (s: PathStimulus) =>
  payload(s, 'CONTROL')?.command === cmd;
const elapsed = (delay: string) => (s: PathStimulus) => s.kind === 'elapse' && s.delay === delay;

/** A final chunk with words in it must be spoken; anything else may be buffered. */
const mayBuffer = (s: PathStimulus) => {
  const text = payload(s, 'TEXT');
  return !!text && !(text.isFinal && text.text.trim() !== '');
};

/** SPEC §6 "policy resumes": `resume`, or `resume_if_short` after a short interjection. */
export function policyResumes(input: Required<SessionInput>, speechMs: number): boolean {
  return (
    input.bargeInPolicy === 'resume' ||
    (input.bargeInPolicy === 'resume_if_short' && speechMs <= input.shortInterjectionMs)
  );
}
const speechEndResumes = (s: PathStimulus, input: Required<SessionInput>) =>
  policyResumes(input, payload(s, 'VAD.SPEECH_END')?.speechMs ?? Number.POSITIVE_INFINITY);

const LIVE: readonly ClientState[] = ['LISTENING', 'SPEAKING', 'PAUSED', 'BARGED_IN'];
const UTTERANCE: readonly ClientState[] = ['SPEAKING', 'PAUSED'];

export const SPEC_ROWS: readonly SpecRow[] = [
  // LISTENING | text | SPEAKING | start synthesis
  { row: 'LISTENING | text | SPEAKING | start synthesis', from: ['LISTENING'], on: eventOf('TEXT'), to: 'SPEAKING', worker: ['startSynthesis'] },
  { row: 'LISTENING | streamed chunk before a clause boundary | LISTENING (buffered) | —', from: ['LISTENING'], on: mayBuffer, to: 'same', worker: [] },

  // SPEAKING | VAD speech start | BARGED_IN | PAUSE
  { row: 'SPEAKING | VAD speech start | BARGED_IN | PAUSE', from: ['SPEAKING'], on: eventOf('VAD.SPEECH_START'), to: 'BARGED_IN', worker: ['pauseWorker'] },

  // BARGED_IN | VAD speech end, policy resumes | SPEAKING | RESUME
  { row: 'BARGED_IN | VAD speech end, policy resumes | SPEAKING | RESUME', from: ['BARGED_IN'], on: eventOf('VAD.SPEECH_END'), when: speechEndResumes, to: 'SPEAKING', worker: ['resumeWorker'] },
  // BARGED_IN | VAD speech end, policy stops / speech longer than the limit / new text | ... | STOP
  { row: 'BARGED_IN | VAD speech end, policy stops | LISTENING | STOP', from: ['BARGED_IN'], on: eventOf('VAD.SPEECH_END'), when: (s, i) => !speechEndResumes(s, i), to: 'LISTENING', worker: ['stopWorker'] },
  { row: 'BARGED_IN | speech longer than the limit | LISTENING | STOP', from: ['BARGED_IN'], on: elapsed('maxBargeIn'), when: (s, i) => s.kind === 'elapse' && s.ms >= i.maxBargeInMs, to: 'LISTENING', worker: ['stopWorker'] },
  { row: 'BARGED_IN | new text | SPEAKING the new text | STOP', from: ['BARGED_IN'], on: eventOf('TEXT'), to: 'SPEAKING', worker: ['stopWorker', 'startSynthesis'] },
  { row: 'BARGED_IN | streamed chunk before a clause boundary | BARGED_IN (buffered) | —', from: ['BARGED_IN'], on: mayBuffer, to: 'same', worker: [] },

  // SPEAKING | utterance done | LISTENING | —   (text while speaking queues as the next utterance)
  { row: 'SPEAKING | text | SPEAKING (queued) | —', from: UTTERANCE, on: eventOf('TEXT'), to: 'same', worker: [] },
  { row: 'SPEAKING | utterance done | LISTENING | —', from: UTTERANCE, on: eventOf('UTTERANCE.DONE'), to: 'LISTENING', worker: [] },
  { row: 'SPEAKING | utterance done, text queued | SPEAKING the next | start synthesis', from: UTTERANCE, on: eventOf('UTTERANCE.DONE'), to: 'SPEAKING', worker: ['startSynthesis'] },
  { row: 'SPEAKING | done of an utterance no longer current | SPEAKING | —', from: UTTERANCE, on: (s) => payload(s, 'UTTERANCE.DONE')?.utteranceId !== undefined, to: 'same', worker: [] },

  // Synthesis ahead (documented in session-machine.ts): once the worker has finished the playing
  // utterance, the next one starts on it while this one drains, and becomes current at its done.
  { row: 'SPEAKING | utterance synthesized, text queued | SPEAKING (the next synthesized ahead) | start synthesis', from: ['SPEAKING'], on: eventOf('UTTERANCE.SYNTHESIZED'), to: 'same', worker: ['startSynthesis'], announces: false },
  { row: 'SPEAKING | text once the worker is done | SPEAKING (synthesized ahead) | start synthesis', from: ['SPEAKING'], on: eventOf('TEXT'), to: 'same', worker: ['startSynthesis'], announces: false },
  { row: 'SPEAKING | utterance synthesized | SPEAKING | —', from: ['SPEAKING', 'PAUSED', 'BARGED_IN'], on: eventOf('UTTERANCE.SYNTHESIZED'), to: 'same', worker: [] },
  { row: 'SPEAKING | utterance done, the next synthesized ahead | SPEAKING the next | —', from: UTTERANCE, on: (s) => eventOf('UTTERANCE.DONE')(s) && payload(s, 'UTTERANCE.DONE')?.utteranceId === undefined, to: 'SPEAKING', worker: [], announces: true },

  // any | client PAUSE / RESUME / STOP | as the command says | the same command
  { row: 'any | client PAUSE | PAUSED | PAUSE', from: ['SPEAKING'], on: command('PAUSE'), to: 'PAUSED', worker: ['pauseWorker'] },
  { row: 'any | client PAUSE during barge-in | PAUSED | — (worker already held)', from: ['BARGED_IN'], on: command('PAUSE'), to: 'PAUSED', worker: [] },
  { row: 'any | client RESUME | SPEAKING | RESUME', from: ['PAUSED', 'BARGED_IN'], on: command('RESUME'), to: 'SPEAKING', worker: ['resumeWorker'] },
  { row: 'any | client STOP | LISTENING | STOP', from: ['SPEAKING', 'PAUSED', 'BARGED_IN'], on: command('STOP'), to: 'LISTENING', worker: ['stopWorker'] },
  { row: 'any | client STOP with nothing playing | LISTENING (buffer dropped) | —', from: ['LISTENING'], on: command('STOP'), to: 'same', worker: [] },

  // any | worker error or lost stream | LISTENING, error to client | —
  { row: 'any | worker error | LISTENING, error to client | —', from: LIVE, on: eventOf('WORKER.ERROR'), to: 'LISTENING', worker: [], reportsError: true },

  // any | transport closed | TERMINATED | STOP, EndSession
  { row: 'any | transport closed | TERMINATED | STOP, EndSession', from: LIVE, on: eventOf('TRANSPORT.CLOSED'), to: 'TERMINATED', worker: ['stopWorker', 'endWorkerSession'] },

  // Not handled at all (documented in session-machine.ts).
  { row: 'PAUSE with nothing playing', from: ['LISTENING', 'PAUSED'], on: command('PAUSE'), to: 'same', worker: [], ignored: true },
  { row: 'RESUME with nothing paused', from: ['LISTENING', 'SPEAKING'], on: command('RESUME'), to: 'same', worker: [], ignored: true },
  { row: 'speech start with nothing playing', from: ['LISTENING', 'PAUSED', 'BARGED_IN'], on: eventOf('VAD.SPEECH_START'), to: 'same', worker: [], ignored: true },
  { row: 'speech end outside a barge-in', from: ['LISTENING', 'SPEAKING', 'PAUSED'], on: eventOf('VAD.SPEECH_END'), to: 'same', worker: [], ignored: true },
  { row: 'utterance done with nothing playing or output held', from: ['LISTENING', 'BARGED_IN'], on: eventOf('UTTERANCE.DONE'), to: 'same', worker: [], ignored: true },
  { row: 'utterance synthesized with nothing playing', from: ['LISTENING'], on: eventOf('UTTERANCE.SYNTHESIZED'), to: 'same', worker: [], ignored: true },
];

export function resolveTarget(row: SpecRow, from: ClientState): ClientState {
  return row.to === 'same' ? from : row.to;
}

/** The rows that allow `from --stimulus--> to` under `input`. */
export function specRowsFor(
  from: ClientState,
  stimulus: PathStimulus,
  to: ClientState,
  input: Required<SessionInput>,
): SpecRow[] {
  return SPEC_ROWS.filter(
    (r) =>
      r.from.includes(from) &&
      r.on(stimulus) &&
      (r.when?.(stimulus, input) ?? true) &&
      resolveTarget(r, from) === to,
  );
}

/** State messages the client must get for a step: the new state, when it changed or restarted. */
export function expectedStateMessages(from: ClientState, to: ClientState, row: SpecRow): ClientState[] {
  return (row.announces ?? (from !== to || row.worker.includes('startSynthesis'))) ? [to] : [];
}
