/**
 * The session actor's state machine (SPEC §6): pure XState v5 logic, no I/O.
 *
 * Every row of the SPEC §6 table is an explicit transition below. Everything that touches the
 * outside world is a NAMED action whose default implementation here is a no-op; production
 * supplies the real ones with `sessionMachine.provide({ actions })` (or `createSessionMachine`):
 *
 * | action             | params                              | production does                     |
 * |--------------------|-------------------------------------|-------------------------------------|
 * | `startSynthesis`   | `{ utteranceId, text, ahead? }`     | spawn a synthesis actor (one stream) |
 * | `pauseWorker`      | `{ utteranceId, reason }`           | hold output at once, Control PAUSE  |
 * | `resumeWorker`     | `{ utteranceId, reason }`           | Control RESUME (from the paused sample) |
 * | `stopWorker`       | `{ utteranceId \| null, reason }`   | Control STOP, drop held output      |
 * | `endWorkerSession` | —                                   | gRPC EndSession                     |
 * | `notifyState`      | `{ state }`                         | `{"type":"state","state":...}`      |
 * | `reportError`      | `{ code, message, retryable }`      | `{"type":"error",...}`              |
 *
 * Timers: the only one is the `maxBargeIn` delay (an XState `after`), so a `SimulatedClock`
 * drives it in tests.
 *
 * Client PAUSE / RESUME / STOP ("any | client PAUSE/RESUME/STOP | as the command says | the
 * same command") is modelled with SPEAKING substates rather than a fifth top-level state:
 *
 * - `SPEAKING.playing` --PAUSE--> `SPEAKING.paused` (pauseWorker). A paused utterance is still
 *   the current utterance: text keeps queueing and UTTERANCE.DONE / WORKER.ERROR /
 *   TRANSPORT.CLOSED / STOP are handled once, on SPEAKING, for both substates.
 * - `SPEAKING.paused` --RESUME--> `SPEAKING.playing` (resumeWorker).
 * - `SPEAKING` --STOP--> `LISTENING` (stopWorker; queued and buffered text are dropped).
 * - `BARGED_IN` --RESUME--> `SPEAKING` (resumeWorker): the client overrides the barge-in.
 * - `BARGED_IN` --STOP--> `LISTENING` (stopWorker).
 * - `BARGED_IN` --PAUSE--> `SPEAKING.paused` with NO worker call: the barge-in PAUSE already
 *   holds the worker; the hold simply becomes the client's, so the end of the user's speech no
 *   longer resumes it and the barge-in limit no longer stops it.
 * - `LISTENING` --STOP--> `LISTENING`, dropping buffered streamed text (nothing is playing, so
 *   there is no worker to stop). PAUSE / RESUME where there is nothing to pause or resume
 *   (LISTENING, PAUSE while paused, RESUME while playing) are not handled: no-ops.
 * - Barge-in is only detected while audio plays: VAD.SPEECH_START is handled in
 *   `SPEAKING.playing`, not in `SPEAKING.paused`.
 *
 * The `paused` context flag mirrors `SPEAKING.paused` (set on its entry, cleared on its exit)
 * for observers such as the session inspector; behaviour keys off the state, never the flag.
 *
 * State messages: `notifyState` runs on entry of LISTENING, SPEAKING.playing, SPEAKING.paused,
 * BARGED_IN and TERMINATED, so each transition emits exactly one message naming the state the
 * client now sees: LISTENING | SPEAKING | PAUSED | BARGED_IN | TERMINATED. (PAUSED is the
 * client-visible name of SPEAKING.paused; SPEC §5 leaves the list open.) Targetless
 * transitions (buffering or queueing text) emit nothing.
 *
 * Streamed text: `is_final:false` chunks accumulate in `buffer`; as soon as buffer+chunk holds
 * a clause boundary, everything up to the LAST boundary becomes an utterance and the rest stays
 * buffered. A final chunk flushes the whole buffer. In LISTENING that utterance starts speaking;
 * in SPEAKING it is queued and spoken after UTTERANCE.DONE; in BARGED_IN it replaces what was
 * playing (STOP, drop the old queue, speak the new text).
 *
 * Synthesis ahead: the worker produces audio several times faster than it plays, so it is done
 * with an utterance (UTTERANCE.SYNTHESIZED: its last frame came) long before the utterance's
 * audio has been sent (UTTERANCE.DONE). While playing, the next utterance then starts on the
 * worker at once (`startSynthesis` with `ahead`), as a queued one or as text that arrives later,
 * and its frames queue behind the current one's: a language model's reply, spoken clause by
 * clause, plays without a gap at each clause even when the worker is busy with other sessions.
 * It becomes the current utterance at the current one's UTTERANCE.DONE, exactly when a queued
 * one would have started, so the client sees the same state messages. One utterance at most is
 * ahead, nothing starts ahead while paused or held, and everything that drops the queue drops it.
 *
 * UTTERANCE.DONE should carry the id of the utterance it belongs to (production: always send
 * it); a done for anything but the current utterance (a stream already stopped) is ignored.
 * Contract for production's `pauseWorker`: it holds output synchronously, so no done for the
 * held utterance can be delivered before `resumeWorker`. Hence UTTERANCE.DONE is not handled in
 * BARGED_IN. It is handled on SPEAKING (so also in SPEAKING.paused), where it is harmless, for
 * robustness: the utterance ends rather than the session waiting for a done that came early.
 *
 * Worker errors (already retried by the synthesis actor in production) return the session to
 * LISTENING, drop pending text and report to the client; TRANSPORT.CLOSED from every state
 * STOPs the worker, ends the worker session and terminates.
 */
import { and, assign, not, setup } from 'xstate';
import { splitAtLastClauseBoundary } from './clause-boundary.js';

export type BargeInPolicy = 'resume' | 'stop' | 'resume_if_short';
export const BARGE_IN_POLICIES: readonly BargeInPolicy[] = ['resume', 'stop', 'resume_if_short'];

export type ControlCommand = 'PAUSE' | 'RESUME' | 'STOP';

export type SessionEvent =
  | { type: 'TEXT'; text: string; isFinal: boolean }
  | { type: 'VAD.SPEECH_START'; at: number }
  | { type: 'VAD.SPEECH_END'; at: number; speechMs: number }
  | { type: 'UTTERANCE.DONE'; utteranceId?: string }
  | { type: 'UTTERANCE.SYNTHESIZED'; utteranceId?: string }
  | { type: 'CONTROL'; command: ControlCommand }
  | { type: 'WORKER.ERROR'; message: string; retryable: boolean }
  | { type: 'TRANSPORT.CLOSED' };

export type SessionEventType = SessionEvent['type'];

export interface SessionInput {
  /** What the end of a barge-in does: resume, stop, or resume only after a short interjection. */
  bargeInPolicy?: BargeInPolicy;
  /** `resume_if_short`: speech up to this long (ms) counts as an interjection and resumes. */
  shortInterjectionMs?: number;
  /** The longest a barge-in may last (ms) before the utterance is stopped regardless of policy. */
  maxBargeInMs?: number;
}

export const DEFAULT_SESSION_INPUT: Required<SessionInput> = {
  bargeInPolicy: 'resume_if_short',
  shortInterjectionMs: 700,
  maxBargeInMs: 3000,
};

export interface Utterance {
  id: string;
  text: string;
}

export interface SessionError {
  message: string;
  retryable: boolean;
}

export interface SessionContext {
  bargeInPolicy: BargeInPolicy;
  shortInterjectionMs: number;
  maxBargeInMs: number;
  /** Streamed (`is_final:false`) text that does not yet end in a clause boundary. */
  buffer: string;
  /** Utterances waiting for the current one to finish, oldest first. */
  queue: string[];
  /** The utterance being synthesised (playing, paused or held by a barge-in). */
  utterance: Utterance | null;
  /**
   * The next utterance, already started on the worker while the current one's audio drains (its
   * frames queue behind): it becomes current at the current one's UTTERANCE.DONE.
   */
  ahead: Utterance | null;
  /** The utterance whose audio the worker is still producing; null once its last frame came. */
  synthesizing: string | null;
  /** Utterances started so far; the source of utterance ids (`u1`, `u2`, ...). */
  utteranceCount: number;
  /** Mirrors `SPEAKING.paused` (client PAUSE). */
  paused: boolean;
  /** VAD speech-start time of the barge-in in progress, if any. */
  bargeInAt: number | null;
  /** The last worker error reported to the client. */
  lastError: SessionError | null;
}

/** What the client is told (`{"type":"state","state":...}`). */
export type ClientState = 'LISTENING' | 'SPEAKING' | 'PAUSED' | 'BARGED_IN' | 'TERMINATED';
export type TopLevelState = 'LISTENING' | 'SPEAKING' | 'BARGED_IN' | 'TERMINATED';

export type PauseReason = 'barge_in' | 'client';
export type StopReason = 'barge_in' | 'barge_in_limit' | 'new_text' | 'client' | 'transport_closed';

export interface StartSynthesisParams {
  utteranceId: string;
  text: string;
  /**
   * Started while the current utterance's audio still drains (its frames queue behind it): the
   * listener hears it without a gap, so it has no first-audio latency of its own.
   */
  ahead?: true;
}
export interface PauseParams {
  utteranceId: string | null;
  reason: PauseReason;
}
export interface ResumeParams {
  utteranceId: string | null;
  reason: PauseReason;
}
export interface StopParams {
  utteranceId: string | null;
  reason: StopReason;
}
export interface NotifyStateParams {
  state: ClientState;
}
export interface ReportErrorParams {
  code: 'worker_error';
  message: string;
  retryable: boolean;
}

/** The I/O actions production provides; every one is a no-op in the machine itself. */
export interface SessionIo {
  startSynthesis(params: StartSynthesisParams): void;
  pauseWorker(params: PauseParams): void;
  resumeWorker(params: ResumeParams): void;
  stopWorker(params: StopParams): void;
  endWorkerSession(): void;
  notifyState(params: NotifyStateParams): void;
  reportError(params: ReportErrorParams): void;
}
export type SessionIoAction = keyof SessionIo;
export const SESSION_IO_ACTIONS: readonly SessionIoAction[] = [
  'startSynthesis',
  'pauseWorker',
  'resumeWorker',
  'stopWorker',
  'endWorkerSession',
  'notifyState',
  'reportError',
];
/** The I/O actions that control the TTS worker (the SPEC §6 "worker control" column). */
export const WORKER_CONTROL_ACTIONS: readonly SessionIoAction[] = [
  'startSynthesis',
  'pauseWorker',
  'resumeWorker',
  'stopWorker',
  'endWorkerSession',
];

type TextEvent = Extract<SessionEvent, { type: 'TEXT' }>;

/** The text a TEXT event makes speakable now (`null`: keep buffering) and what stays buffered. */
function takeSpeakable(buffer: string, event: TextEvent): { text: string; rest: string } | null {
  const combined = buffer + event.text;
  if (event.isFinal) {
    const text = combined.trim();
    return text ? { text, rest: '' } : null;
  }
  const split = splitAtLastClauseBoundary(combined);
  return split ? { text: split.head, rest: split.tail } : null;
}

function mustTakeSpeakable(buffer: string, event: TextEvent): { text: string; rest: string } {
  const taken = takeSpeakable(buffer, event);
  // Only reachable through the `isFinalText` / `hasClauseBoundary` guards.
  if (!taken) throw new Error('TEXT event holds no speakable text');
  return taken;
}

const currentId = (context: SessionContext): string | null => context.utterance?.id ?? null;

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    // ---- I/O: no-ops here, supplied by production via provide() ------------------------
    startSynthesis: (_, _params: StartSynthesisParams) => undefined,
    pauseWorker: (_, _params: PauseParams) => undefined,
    resumeWorker: (_, _params: ResumeParams) => undefined,
    stopWorker: (_, _params: StopParams) => undefined,
    endWorkerSession: () => undefined,
    notifyState: (_, _params: NotifyStateParams) => undefined,
    reportError: (_, _params: ReportErrorParams) => undefined,

    // ---- context updates -----------------------------------------------------------------
    bufferText: assign({
      buffer: ({ context, event }) => {
        if (event.type !== 'TEXT') return context.buffer;
        // A final chunk that reaches here is blank: it ends the stream with nothing to say.
        return event.isFinal ? '' : context.buffer + event.text;
      },
    }),
    beginUtterance: assign(({ context, event }) => {
      if (event.type !== 'TEXT') return {};
      const { text, rest } = mustTakeSpeakable(context.buffer, event);
      return { buffer: rest, ...numbered(context, text, 'utterance') };
    }),
    beginAheadFromText: assign(({ context, event }) => {
      if (event.type !== 'TEXT') return {};
      const { text, rest } = mustTakeSpeakable(context.buffer, event);
      return { buffer: rest, ...numbered(context, text, 'ahead') };
    }),
    enqueueUtterance: assign(({ context, event }) => {
      if (event.type !== 'TEXT') return {};
      const { text, rest } = mustTakeSpeakable(context.buffer, event);
      return { buffer: rest, queue: [...context.queue, text] };
    }),
    beginQueuedUtterance: assign(({ context }) => {
      const [text, ...queue] = context.queue;
      return text === undefined ? {} : { queue, ...numbered(context, text, 'utterance') };
    }),
    beginAheadUtterance: assign(({ context }) => {
      const [text, ...queue] = context.queue;
      return text === undefined ? {} : { queue, ...numbered(context, text, 'ahead') };
    }),
    promoteAhead: assign(({ context }) => ({ utterance: context.ahead, ahead: null })),
    markSynthesized: assign({ synthesizing: null }),
    // A stopped or failed synthesis produces nothing more: the worker is free for the next one.
    clearUtterance: assign({ utterance: null, ahead: null, synthesizing: null }),
    discardQueue: assign({ queue: [], ahead: null }),
    discardPending: assign({ queue: [], buffer: '', ahead: null }),
    markPaused: assign({ paused: true }),
    markPlaying: assign({ paused: false }),
    recordBargeIn: assign({
      bargeInAt: ({ event }) => (event.type === 'VAD.SPEECH_START' ? event.at : null),
    }),
    clearBargeIn: assign({ bargeInAt: null }),
    recordError: assign({
      lastError: ({ context, event }) =>
        event.type === 'WORKER.ERROR'
          ? { message: event.message, retryable: event.retryable }
          : context.lastError,
    }),
  },
  guards: {
    /** A final TEXT chunk with something (buffered or new) to say. */
    isFinalText: ({ context, event }) =>
      event.type === 'TEXT' && event.isFinal && takeSpeakable(context.buffer, event) !== null,
    /** A streamed TEXT chunk that completes at least one clause of the buffered text. */
    hasClauseBoundary: ({ context, event }) =>
      event.type === 'TEXT' && !event.isFinal && takeSpeakable(context.buffer, event) !== null,
    hasQueuedText: ({ context }) => context.queue.length > 0,
    hasAhead: ({ context }) => context.ahead !== null,
    /** The worker has produced all of the audio of every utterance started so far. */
    isWorkerFinished: ({ context }) => context.synthesizing === null,
    /**
     * Text may be synthesised ahead now: the worker has finished the current utterance, and
     * nothing else is ahead of it or waiting.
     */
    canSynthesizeAhead: ({ context }) =>
      context.utterance !== null && context.synthesizing === null && context.ahead === null && context.queue.length === 0,
    /** UTTERANCE.SYNTHESIZED naming an utterance other than the one the worker is producing. */
    isStaleSynthesis: ({ context, event }) =>
      event.type === 'UTTERANCE.SYNTHESIZED' &&
      (context.synthesizing === null || (event.utteranceId !== undefined && event.utteranceId !== context.synthesizing)),
    /** UTTERANCE.DONE naming an utterance other than the current one (e.g. a stopped one). */
    isStaleUtterance: ({ context, event }) =>
      event.type === 'UTTERANCE.DONE' &&
      event.utteranceId !== undefined &&
      event.utteranceId !== context.utterance?.id,
    policyResumes: ({ context }) => context.bargeInPolicy === 'resume',
    policyResumesIfShort: ({ context }) => context.bargeInPolicy === 'resume_if_short',
    /** The user's speech that ended the barge-in lasted no longer than an interjection. */
    isShortInterjection: ({ context, event }) =>
      event.type === 'VAD.SPEECH_END' && event.speechMs <= context.shortInterjectionMs,
    isCommand: ({ event }, params: { command: ControlCommand }) =>
      event.type === 'CONTROL' && event.command === params.command,
  },
  delays: {
    maxBargeIn: ({ context }) => context.maxBargeInMs,
  },
}).createMachine({
  id: 'session',
  context: ({ input }) => {
    const resolved = resolveSessionInput(input);
    return {
      ...resolved,
      buffer: '',
      queue: [],
      utterance: null,
      ahead: null,
      synthesizing: null,
      utteranceCount: 0,
      paused: false,
      bargeInAt: null,
      lastError: null,
    };
  },
  initial: 'LISTENING',
  states: {
    LISTENING: {
      description: 'Nothing is playing; text starts an utterance.',
      entry: ['clearUtterance', { type: 'notifyState', params: { state: 'LISTENING' } }],
      on: {
        TEXT: [
          {
            guard: 'isFinalText',
            target: 'SPEAKING',
            actions: [
              'beginUtterance',
              {
                type: 'startSynthesis',
                params: ({ context }) => synthesisParams(context),
              },
            ],
          },
          {
            guard: 'hasClauseBoundary',
            target: 'SPEAKING',
            actions: [
              'beginUtterance',
              {
                type: 'startSynthesis',
                params: ({ context }) => synthesisParams(context),
              },
            ],
          },
          { actions: 'bufferText' },
        ],
        CONTROL: {
          guard: { type: 'isCommand', params: { command: 'STOP' } },
          actions: 'discardPending',
        },
        'WORKER.ERROR': {
          actions: ['recordError', { type: 'reportError', params: ({ event }) => errorParams(event) }],
        },
        'TRANSPORT.CLOSED': {
          target: 'TERMINATED',
          actions: [
            { type: 'stopWorker', params: ({ context }) => stopParams(context, 'transport_closed') },
            'endWorkerSession',
          ],
        },
      },
    },

    SPEAKING: {
      description: 'An utterance is being synthesised and sent (or is paused by the client).',
      initial: 'playing',
      states: {
        playing: {
          entry: { type: 'notifyState', params: { state: 'SPEAKING' } },
          on: {
            'VAD.SPEECH_START': {
              target: '#session.BARGED_IN',
              actions: [
                'recordBargeIn',
                {
                  type: 'pauseWorker',
                  params: ({ context }) => ({ utteranceId: currentId(context), reason: 'barge_in' }),
                },
              ],
            },
            // The worker has finished the current utterance: the next one starts on it now and
            // its audio queues behind, so the listener hears no gap while it is synthesised.
            TEXT: [
              { guard: and(['isFinalText', 'canSynthesizeAhead']), actions: ['beginAheadFromText', { type: 'startSynthesis', params: ({ context }) => aheadParams(context) }] },
              { guard: and(['hasClauseBoundary', 'canSynthesizeAhead']), actions: ['beginAheadFromText', { type: 'startSynthesis', params: ({ context }) => aheadParams(context) }] },
            ],
            'UTTERANCE.SYNTHESIZED': {
              guard: and([not('isStaleSynthesis'), not('hasAhead'), 'hasQueuedText']),
              actions: ['markSynthesized', 'beginAheadUtterance', { type: 'startSynthesis', params: ({ context }) => aheadParams(context) }],
            },
            CONTROL: {
              guard: { type: 'isCommand', params: { command: 'PAUSE' } },
              target: 'paused',
              actions: {
                type: 'pauseWorker',
                params: ({ context }) => ({ utteranceId: currentId(context), reason: 'client' }),
              },
            },
          },
        },
        paused: {
          entry: ['markPaused', { type: 'notifyState', params: { state: 'PAUSED' } }],
          exit: 'markPlaying',
          on: {
            CONTROL: {
              guard: { type: 'isCommand', params: { command: 'RESUME' } },
              target: 'playing',
              actions: {
                type: 'resumeWorker',
                params: ({ context }) => ({ utteranceId: currentId(context), reason: 'client' }),
              },
            },
          },
        },
      },
      on: {
        TEXT: [
          { guard: 'isFinalText', actions: 'enqueueUtterance' },
          { guard: 'hasClauseBoundary', actions: 'enqueueUtterance' },
          { actions: 'bufferText' },
        ],
        'UTTERANCE.DONE': [
          // Forbidden transition: a done for a stream that is no longer current changes nothing.
          { guard: 'isStaleUtterance' },
          // The next utterance is already on the worker: it becomes current (no new synthesis),
          // and what waits behind it starts on the worker if the worker is done with it.
          {
            guard: and(['hasAhead', 'isWorkerFinished', 'hasQueuedText']),
            target: 'SPEAKING',
            reenter: true,
            actions: ['promoteAhead', 'beginAheadUtterance', { type: 'startSynthesis', params: ({ context }) => aheadParams(context) }],
          },
          { guard: 'hasAhead', target: 'SPEAKING', reenter: true, actions: 'promoteAhead' },
          {
            guard: 'hasQueuedText',
            target: 'SPEAKING',
            reenter: true,
            actions: [
              'beginQueuedUtterance',
              { type: 'startSynthesis', params: ({ context }) => synthesisParams(context) },
            ],
          },
          { target: 'LISTENING' },
        ],
        'UTTERANCE.SYNTHESIZED': [
          // Forbidden transition: the end of a stream the worker is no longer producing.
          { guard: 'isStaleSynthesis' },
          { actions: 'markSynthesized' },
        ],
        CONTROL: {
          guard: { type: 'isCommand', params: { command: 'STOP' } },
          target: 'LISTENING',
          actions: [
            { type: 'stopWorker', params: ({ context }) => stopParams(context, 'client') },
            'discardPending',
          ],
        },
        'WORKER.ERROR': {
          target: 'LISTENING',
          actions: [
            'recordError',
            'discardPending',
            { type: 'reportError', params: ({ event }) => errorParams(event) },
          ],
        },
        'TRANSPORT.CLOSED': {
          target: 'TERMINATED',
          actions: [
            { type: 'stopWorker', params: ({ context }) => stopParams(context, 'transport_closed') },
            'endWorkerSession',
          ],
        },
      },
    },

    BARGED_IN: {
      description: 'The user talks over the utterance; its output is held (worker PAUSEd).',
      entry: { type: 'notifyState', params: { state: 'BARGED_IN' } },
      exit: 'clearBargeIn',
      after: {
        maxBargeIn: {
          target: 'LISTENING',
          actions: [
            { type: 'stopWorker', params: ({ context }) => stopParams(context, 'barge_in_limit') },
            'discardPending',
          ],
        },
      },
      on: {
        'VAD.SPEECH_END': [
          {
            guard: 'policyResumes',
            target: 'SPEAKING',
            actions: {
              type: 'resumeWorker',
              params: ({ context }) => ({ utteranceId: currentId(context), reason: 'barge_in' }),
            },
          },
          {
            guard: and(['policyResumesIfShort', 'isShortInterjection']),
            target: 'SPEAKING',
            actions: {
              type: 'resumeWorker',
              params: ({ context }) => ({ utteranceId: currentId(context), reason: 'barge_in' }),
            },
          },
          {
            target: 'LISTENING',
            actions: [
              { type: 'stopWorker', params: ({ context }) => stopParams(context, 'barge_in') },
              'discardPending',
            ],
          },
        ],
        // The worker may finish producing before the hold reached it; nothing starts while held.
        'UTTERANCE.SYNTHESIZED': [{ guard: 'isStaleSynthesis' }, { actions: 'markSynthesized' }],
        TEXT: [
          {
            guard: 'isFinalText',
            target: 'SPEAKING',
            actions: [
              { type: 'stopWorker', params: ({ context }) => stopParams(context, 'new_text') },
              'discardQueue',
              'beginUtterance',
              { type: 'startSynthesis', params: ({ context }) => synthesisParams(context) },
            ],
          },
          {
            guard: 'hasClauseBoundary',
            target: 'SPEAKING',
            actions: [
              { type: 'stopWorker', params: ({ context }) => stopParams(context, 'new_text') },
              'discardQueue',
              'beginUtterance',
              { type: 'startSynthesis', params: ({ context }) => synthesisParams(context) },
            ],
          },
          { actions: 'bufferText' },
        ],
        CONTROL: [
          {
            guard: { type: 'isCommand', params: { command: 'RESUME' } },
            target: 'SPEAKING',
            actions: {
              type: 'resumeWorker',
              params: ({ context }) => ({ utteranceId: currentId(context), reason: 'client' }),
            },
          },
          {
            // The barge-in PAUSE already holds the worker: no second PAUSE is sent.
            guard: { type: 'isCommand', params: { command: 'PAUSE' } },
            target: 'SPEAKING.paused',
          },
          {
            guard: { type: 'isCommand', params: { command: 'STOP' } },
            target: 'LISTENING',
            actions: [
              { type: 'stopWorker', params: ({ context }) => stopParams(context, 'client') },
              'discardPending',
            ],
          },
        ],
        'WORKER.ERROR': {
          target: 'LISTENING',
          actions: [
            'recordError',
            'discardPending',
            { type: 'reportError', params: ({ event }) => errorParams(event) },
          ],
        },
        'TRANSPORT.CLOSED': {
          target: 'TERMINATED',
          actions: [
            { type: 'stopWorker', params: ({ context }) => stopParams(context, 'transport_closed') },
            'endWorkerSession',
          ],
        },
      },
    },

    TERMINATED: {
      description: 'The transport closed; the worker session is ended.',
      type: 'final',
      entry: { type: 'notifyState', params: { state: 'TERMINATED' } },
    },
  },
});

function synthesisParams(context: SessionContext): StartSynthesisParams {
  const utterance = context.utterance;
  if (!utterance) throw new Error('startSynthesis without a current utterance');
  return { utteranceId: utterance.id, text: utterance.text };
}

/** The next numbered utterance (`u1`, `u2`, ...) as the current one or the one ahead; the worker is on it. */
function numbered(context: SessionContext, text: string, slot: 'utterance' | 'ahead'): Partial<SessionContext> {
  const utteranceCount = context.utteranceCount + 1;
  const id = `u${utteranceCount}`;
  return { [slot]: { id, text }, utteranceCount, synthesizing: id };
}

function aheadParams(context: SessionContext): StartSynthesisParams {
  const ahead = context.ahead;
  if (!ahead) throw new Error('startSynthesis ahead without an utterance ahead');
  return { utteranceId: ahead.id, text: ahead.text, ahead: true };
}

function stopParams(context: SessionContext, reason: StopReason): StopParams {
  return { utteranceId: currentId(context), reason };
}

function errorParams(event: SessionEvent): ReportErrorParams {
  return event.type === 'WORKER.ERROR'
    ? { code: 'worker_error', message: event.message, retryable: event.retryable }
    : { code: 'worker_error', message: 'worker error', retryable: false };
}

export function resolveSessionInput(input: SessionInput | undefined): Required<SessionInput> {
  const resolved = { ...DEFAULT_SESSION_INPUT, ...stripUndefined(input ?? {}) };
  if (!BARGE_IN_POLICIES.includes(resolved.bargeInPolicy)) {
    throw new Error(`unknown barge-in policy: ${String(resolved.bargeInPolicy)}`);
  }
  for (const key of ['shortInterjectionMs', 'maxBargeInMs'] as const) {
    if (!Number.isFinite(resolved[key]) || resolved[key] < 0) {
      throw new Error(`${key} must be a non-negative number, got ${String(resolved[key])}`);
    }
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type SessionMachine = typeof sessionMachine;

/**
 * The machine with production's I/O wired in. Missing implementations stay no-ops, so a
 * caller can provide only what it observes (tests, the session inspector).
 */
export function createSessionMachine(io: Partial<SessionIo> = {}): SessionMachine {
  return sessionMachine.provide({
    actions: {
      startSynthesis: (_, params) => io.startSynthesis?.(params),
      pauseWorker: (_, params) => io.pauseWorker?.(params),
      resumeWorker: (_, params) => io.resumeWorker?.(params),
      stopWorker: (_, params) => io.stopWorker?.(params),
      endWorkerSession: () => io.endWorkerSession?.(),
      notifyState: (_, params) => io.notifyState?.(params),
      reportError: (_, params) => io.reportError?.(params),
    },
  });
}

/** A snapshot value as a dotted path: `LISTENING`, `SPEAKING.paused`. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  const [[key, child]] = Object.entries(value as Record<string, unknown>) as [[string, unknown]];
  return `${key}.${stateString(child)}`;
}

/** The client-visible state of a snapshot value (`SPEAKING.paused` is `PAUSED`). */
export function clientStateOf(value: unknown): ClientState {
  if (typeof value === 'string') return value as ClientState;
  if (value && typeof value === 'object' && 'SPEAKING' in value) {
    return (value as { SPEAKING: string }).SPEAKING === 'paused' ? 'PAUSED' : 'SPEAKING';
  }
  throw new Error(`not a session state value: ${JSON.stringify(value)}`);
}
