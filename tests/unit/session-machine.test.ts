/**
 * Focused behaviour of the session machine (SPEC §6), run on a SimulatedClock with recording
 * doubles for every I/O action.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  createSessionMachine,
  DEFAULT_SESSION_INPUT,
  resolveSessionInput,
  sessionMachine,
} from '../../machines/session-machine.js';
import type { ClientState, SessionEvent, SessionInput } from '../../machines/session-machine.js';
import { names, notified, startRecordedSession, workerCalls } from '../support/machine-recorder.js';
import type { RecordedSession } from '../support/machine-recorder.js';

const text = (t: string, isFinal = true): SessionEvent => ({ type: 'TEXT', text: t, isFinal });
const speechStart = (at = 1000): SessionEvent => ({ type: 'VAD.SPEECH_START', at });
const speechEnd = (speechMs: number, at = 1000 + speechMs): SessionEvent => ({ type: 'VAD.SPEECH_END', at, speechMs });
const control = (command: 'PAUSE' | 'RESUME' | 'STOP'): SessionEvent => ({ type: 'CONTROL', command });
const DONE: SessionEvent = { type: 'UTTERANCE.DONE' };
const CLOSED: SessionEvent = { type: 'TRANSPORT.CLOSED' };
const workerError: SessionEvent = { type: 'WORKER.ERROR', message: 'stream lost', retryable: true };

/** A started session with the initial LISTENING notification already drained. */
function session(input?: SessionInput): RecordedSession {
  const s = startRecordedSession(input);
  expect(s.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'LISTENING' } }]);
  return s;
}

/** A session speaking utterance u1 ("Hello there."). */
function speaking(input?: SessionInput): RecordedSession {
  const s = session(input);
  s.send(text('Hello there.'));
  expect(s.state()).toBe('SPEAKING.playing');
  s.recorder.drain();
  return s;
}

/** A session barged in on utterance u1. */
function bargedIn(input?: SessionInput): RecordedSession {
  const s = speaking(input);
  s.send(speechStart());
  expect(s.state()).toBe('BARGED_IN');
  s.recorder.drain();
  return s;
}

const ctx = (s: RecordedSession) => s.actor.getSnapshot().context;

describe('session machine: starting to speak', () => {
  it('starts in LISTENING and tells the client', () => {
    const s = startRecordedSession();
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.calls).toEqual([{ action: 'notifyState', params: { state: 'LISTENING' } }]);
  });

  it('final text in LISTENING starts synthesis and goes SPEAKING', () => {
    const s = session();
    s.send(text('  Hello there.  '));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(s.recorder.drain()).toEqual([
      { action: 'startSynthesis', params: { utteranceId: 'u1', text: 'Hello there.' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
    expect(ctx(s).utterance).toEqual({ id: 'u1', text: 'Hello there.' });
  });

  it('streamed text starts speaking at the first clause boundary, without the final chunk', () => {
    const s = session();
    s.send(text('Hello', false));
    s.send(text(' world', false));
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([]);
    expect(ctx(s).buffer).toBe('Hello world');

    s.send(text(', how', false));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(s.recorder.drain()).toEqual([
      { action: 'startSynthesis', params: { utteranceId: 'u1', text: 'Hello world,' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
    expect(ctx(s).buffer).toBe('how');

    // The rest of the stream queues as the next utterance and is spoken after this one.
    s.send(text(' are you', false));
    s.send(text('?', true));
    expect(ctx(s).queue).toEqual(['how are you?']);
    expect(ctx(s).buffer).toBe('');
    expect(s.recorder.drain()).toEqual([]);
    s.send(DONE);
    expect(s.recorder.drain()).toEqual([
      { action: 'startSynthesis', params: { utteranceId: 'u2', text: 'how are you?' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
  });

  it('a chunk completing several clauses speaks all complete ones and buffers the rest', () => {
    const s = session();
    s.send(text('One. Two, three', false));
    expect(names(workerCalls(s.recorder.drain()))).toEqual(['startSynthesis']);
    expect(ctx(s).utterance?.text).toBe('One. Two,');
    expect(ctx(s).buffer).toBe('three');
  });

  it('each clause-boundary mark starts speech; a decimal point or bare punctuation does not', () => {
    for (const mark of ['.', '!', '?', ',', ';', ':']) {
      const s = session();
      s.send(text(`Well${mark}`, false));
      expect(s.state(), mark).toBe('SPEAKING.playing');
    }
    const s = session();
    s.send(text('It costs 3.5', false));
    s.send(text(' , ', false));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(ctx(s).utterance?.text).toBe('It costs 3.5 ,');
    const bare = session();
    bare.send(text(', ', false));
    expect(bare.state()).toBe('LISTENING');
  });

  it('a final chunk flushes the buffer; a blank final chunk with nothing buffered is a no-op', () => {
    const s = session();
    s.send(text('No punctuation at all', false));
    s.send(text('', true));
    expect(ctx(s).utterance?.text).toBe('No punctuation at all');
    const blank = session();
    blank.send(text('   ', true));
    expect(blank.state()).toBe('LISTENING');
    expect(blank.recorder.drain()).toEqual([]);
    expect(ctx(blank).buffer).toBe('');
  });
});

describe('session machine: text while speaking', () => {
  it('queues as the next utterances, spoken in order after each UTTERANCE.DONE', () => {
    const s = speaking();
    s.send(text('Second.'));
    s.send(text('Third.'));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(s.recorder.drain()).toEqual([]);
    expect(ctx(s).queue).toEqual(['Second.', 'Third.']);

    s.send(DONE);
    expect(names(s.recorder.drain())).toEqual(['startSynthesis', 'notifyState']);
    expect(ctx(s).utterance).toEqual({ id: 'u2', text: 'Second.' });
    s.send(DONE);
    expect(ctx(s).utterance).toEqual({ id: 'u3', text: 'Third.' });
    s.recorder.drain();
    s.send(DONE);
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'LISTENING' } }]);
    expect(ctx(s).utterance).toBeNull();
  });

  it('ignores UTTERANCE.DONE of an utterance that is no longer current', () => {
    const s = speaking();
    s.send({ type: 'UTTERANCE.DONE', utteranceId: 'u0' });
    expect(s.state()).toBe('SPEAKING.playing');
    expect(s.recorder.drain()).toEqual([]);
    s.send({ type: 'UTTERANCE.DONE', utteranceId: 'u1' });
    expect(s.state()).toBe('LISTENING');
  });
});

const synthesized = (utteranceId?: string): SessionEvent => ({ type: 'UTTERANCE.SYNTHESIZED', ...(utteranceId && { utteranceId }) });
const doneOf = (utteranceId: string): SessionEvent => ({ type: 'UTTERANCE.DONE', utteranceId });

describe('session machine: synthesis ahead (UTTERANCE.SYNTHESIZED)', () => {
  it('a queued utterance starts on the worker once it finished the current one, and becomes current at its done', () => {
    const s = speaking();
    s.send(text('Second.'));
    s.send(text('Third.'));
    s.recorder.drain();

    s.send(synthesized('u1'));
    // Started, not announced: u1 is still what the client hears.
    expect(s.recorder.drain()).toEqual([{ action: 'startSynthesis', params: { utteranceId: 'u2', text: 'Second.', ahead: true } }]);
    expect(ctx(s)).toMatchObject({ utterance: { id: 'u1' }, ahead: { id: 'u2', text: 'Second.' }, synthesizing: 'u2', queue: ['Third.'] });

    // At u1's done, u2 is current with no second synthesis; Third. waits for the worker.
    s.send(doneOf('u1'));
    expect(s.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'SPEAKING' } }]);
    expect(ctx(s)).toMatchObject({ utterance: { id: 'u2' }, ahead: null, synthesizing: 'u2', queue: ['Third.'] });

    s.send(synthesized('u2'));
    expect(s.recorder.drain()).toEqual([{ action: 'startSynthesis', params: { utteranceId: 'u3', text: 'Third.', ahead: true } }]);
    s.send(doneOf('u2'));
    s.send(synthesized('u3'));
    expect(names(s.recorder.drain())).toEqual(['notifyState']);
    s.send(doneOf('u3'));
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'LISTENING' } }]);
  });

  it('when the worker finished before the done, the next one starts on it at the done', () => {
    const s = speaking();
    s.send(text('Second.'));
    s.send(text('Third.'));
    s.send(synthesized('u1'));
    s.send(synthesized('u2'));
    s.recorder.drain();
    s.send(doneOf('u1'));
    expect(s.recorder.drain()).toEqual([
      { action: 'startSynthesis', params: { utteranceId: 'u3', text: 'Third.', ahead: true } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
    expect(ctx(s)).toMatchObject({ utterance: { id: 'u2' }, ahead: { id: 'u3' }, synthesizing: 'u3' });
  });

  it('text streamed in after the worker finished starts ahead at its clause boundary', () => {
    const s = speaking();
    s.send(synthesized('u1'));
    s.send(text('and then', false));
    expect(s.recorder.drain()).toEqual([]);
    s.send(text(' some, more', false));
    expect(s.recorder.drain()).toEqual([{ action: 'startSynthesis', params: { utteranceId: 'u2', text: 'and then some,', ahead: true } }]);
    // One ahead at most: the next clause queues.
    s.send(text(' words. Next', false));
    expect(s.recorder.drain()).toEqual([]);
    expect(ctx(s).queue).toEqual(['more words.']);
  });

  it('before the worker finished, text queues as before', () => {
    const s = speaking();
    s.send(text('Second.'));
    expect(s.recorder.drain()).toEqual([]);
    s.send(doneOf('u1'));
    expect(s.recorder.drain()).toEqual([
      { action: 'startSynthesis', params: { utteranceId: 'u2', text: 'Second.' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
  });

  it('ignores the end of a stream the worker is no longer producing', () => {
    const s = speaking();
    s.send(text('Second.'));
    s.send(synthesized('u0'));
    expect(s.recorder.drain()).toEqual([]);
    expect(ctx(s).synthesizing).toBe('u1');
    s.send(synthesized('u1'));
    s.recorder.drain();
    s.send(synthesized('u1'));
    expect(s.recorder.drain()).toEqual([]);
    expect(ctx(s).synthesizing).toBe('u2');
  });

  it('starts nothing while paused or held; STOP and a barge-in stop drop the utterance ahead', () => {
    const paused = speaking();
    paused.send(text('Second.'));
    paused.send(control('PAUSE'));
    paused.send(synthesized('u1'));
    expect(names(paused.recorder.drain())).toEqual(['pauseWorker', 'notifyState']);
    expect(ctx(paused)).toMatchObject({ synthesizing: null, ahead: null, queue: ['Second.'] });

    const stopped = speaking();
    stopped.send(text('Second.'));
    stopped.send(synthesized('u1'));
    stopped.send(control('STOP'));
    expect(ctx(stopped)).toMatchObject({ utterance: null, ahead: null, synthesizing: null, queue: [] });
    stopped.recorder.drain();
    stopped.send(doneOf('u2'));
    expect(stopped.state()).toBe('LISTENING');
    expect(stopped.recorder.drain()).toEqual([]);

    const barged = speaking({ ...DEFAULT_SESSION_INPUT, bargeInPolicy: 'stop' });
    barged.send(text('Second.'));
    barged.send(synthesized('u1'));
    barged.send(speechStart());
    barged.send(speechEnd(300));
    expect(barged.state()).toBe('LISTENING');
    expect(ctx(barged)).toMatchObject({ utterance: null, ahead: null, synthesizing: null, queue: [] });
  });

  it('a resumed barge-in keeps the utterance ahead, which follows at the done', () => {
    const s = speaking({ ...DEFAULT_SESSION_INPUT, bargeInPolicy: 'resume' });
    s.send(text('Second.'));
    s.send(synthesized('u1'));
    s.send(speechStart());
    s.send(speechEnd(300));
    expect(s.state()).toBe('SPEAKING.playing');
    s.recorder.drain();
    s.send(doneOf('u1'));
    expect(s.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'SPEAKING' } }]);
    expect(ctx(s).utterance).toEqual({ id: 'u2', text: 'Second.' });
  });
});

describe('session machine: barge-in', () => {
  it('VAD speech start PAUSEs the worker at once (debounce is the VAD actor’s job)', () => {
    const s = speaking();
    s.send(speechStart(1234));
    // No clock advance: the machine reacts to the VAD decision immediately.
    expect(s.state()).toBe('BARGED_IN');
    expect(s.recorder.drain()).toEqual([
      { action: 'pauseWorker', params: { utteranceId: 'u1', reason: 'barge_in' } },
      { action: 'notifyState', params: { state: 'BARGED_IN' } },
    ]);
    expect(ctx(s).bargeInAt).toBe(1234);
  });

  it('policy resume: speech end RESUMEs, whatever its length', () => {
    for (const ms of [50, 2500]) {
      const s = bargedIn({ bargeInPolicy: 'resume' });
      s.send(speechEnd(ms));
      expect(s.state()).toBe('SPEAKING.playing');
      expect(s.recorder.drain()).toEqual([
        { action: 'resumeWorker', params: { utteranceId: 'u1', reason: 'barge_in' } },
        { action: 'notifyState', params: { state: 'SPEAKING' } },
      ]);
      expect(ctx(s).bargeInAt).toBeNull();
    }
  });

  it('policy stop: speech end STOPs and drops the rest, however short', () => {
    const s = speaking({ bargeInPolicy: 'stop' });
    s.send(text('Queued.'));
    s.send(speechStart());
    s.send(text('partial', false));
    s.recorder.drain();
    s.send(speechEnd(50));
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([
      { action: 'stopWorker', params: { utteranceId: 'u1', reason: 'barge_in' } },
      { action: 'notifyState', params: { state: 'LISTENING' } },
    ]);
    expect(ctx(s).queue).toEqual([]);
    expect(ctx(s).buffer).toBe('');
  });

  it('policy resume_if_short: a short interjection resumes, a longer one stops', () => {
    const input = { bargeInPolicy: 'resume_if_short', shortInterjectionMs: 600 } as const;
    for (const [ms, action, state] of [
      [300, 'resumeWorker', 'SPEAKING.playing'],
      [600, 'resumeWorker', 'SPEAKING.playing'],
      [601, 'stopWorker', 'LISTENING'],
      [1500, 'stopWorker', 'LISTENING'],
    ] as const) {
      const s = bargedIn(input);
      s.send(speechEnd(ms));
      expect(s.state(), `${ms} ms`).toBe(state);
      expect(names(workerCalls(s.recorder.drain())), `${ms} ms`).toEqual([action]);
    }
  });

  it('maxBargeInMs: a barge-in lasting longer STOPs and returns to LISTENING (simulated clock)', () => {
    const s = bargedIn({ bargeInPolicy: 'resume', maxBargeInMs: 2000 });
    s.clock.increment(1999);
    expect(s.state()).toBe('BARGED_IN');
    expect(s.recorder.drain()).toEqual([]);
    s.clock.increment(1);
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([
      { action: 'stopWorker', params: { utteranceId: 'u1', reason: 'barge_in_limit' } },
      { action: 'notifyState', params: { state: 'LISTENING' } },
    ]);
    // The late speech end changes nothing.
    s.send(speechEnd(2500));
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([]);
  });

  it('maxBargeInMs: the limit is cancelled when the barge-in ends and restarts on the next one', () => {
    const s = bargedIn({ bargeInPolicy: 'resume', maxBargeInMs: 2000 });
    s.clock.increment(1500);
    s.send(speechEnd(1200));
    s.clock.increment(5000);
    expect(s.state()).toBe('SPEAKING.playing');
    s.send(speechStart());
    s.clock.increment(1999);
    expect(s.state()).toBe('BARGED_IN');
    s.clock.increment(1);
    expect(s.state()).toBe('LISTENING');
    expect(names(workerCalls(s.recorder.drain()))).toEqual(['resumeWorker', 'pauseWorker', 'stopWorker']);
  });

  it('the default limit applies when none is given', () => {
    const s = bargedIn();
    s.clock.increment(DEFAULT_SESSION_INPUT.maxBargeInMs - 1);
    expect(s.state()).toBe('BARGED_IN');
    s.clock.increment(1);
    expect(s.state()).toBe('LISTENING');
  });

  it('new text during a barge-in STOPs the old utterance, then speaks the new text', () => {
    const s = bargedIn();
    s.send(text('Fresh answer.'));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(s.recorder.drain()).toEqual([
      { action: 'stopWorker', params: { utteranceId: 'u1', reason: 'new_text' } },
      { action: 'startSynthesis', params: { utteranceId: 'u2', text: 'Fresh answer.' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
  });

  it('new text during a barge-in drops the old queue; partial chunks just buffer', () => {
    const s = speaking();
    s.send(text('Stale next.'));
    s.send(speechStart());
    s.recorder.drain();
    s.send(text('Actually', false));
    expect(s.state()).toBe('BARGED_IN');
    expect(s.recorder.drain()).toEqual([]);
    s.send(text(', listen', false));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(names(s.recorder.drain())).toEqual(['stopWorker', 'startSynthesis', 'notifyState']);
    expect(ctx(s).utterance?.text).toBe('Actually,');
    expect(ctx(s).queue).toEqual([]);
    expect(ctx(s).buffer).toBe('listen');
  });

  it('VAD events outside their states change nothing', () => {
    const s = session();
    s.send(speechStart());
    s.send(speechEnd(100));
    expect(s.state()).toBe('LISTENING');
    const sp = speaking();
    sp.send(speechEnd(100));
    expect(sp.state()).toBe('SPEAKING.playing');
    const b = bargedIn();
    b.send(speechStart());
    expect(b.state()).toBe('BARGED_IN');
    for (const x of [s, sp, b]) expect(x.recorder.drain()).toEqual([]);
  });
});

describe('session machine: client PAUSE / RESUME / STOP', () => {
  it('PAUSE while speaking pauses the worker; RESUME resumes it', () => {
    const s = speaking();
    s.send(control('PAUSE'));
    expect(s.state()).toBe('SPEAKING.paused');
    expect(ctx(s).paused).toBe(true);
    expect(s.recorder.drain()).toEqual([
      { action: 'pauseWorker', params: { utteranceId: 'u1', reason: 'client' } },
      { action: 'notifyState', params: { state: 'PAUSED' } },
    ]);
    s.send(control('PAUSE'));
    s.send(speechStart()); // nothing plays, so nothing to barge in on
    expect(s.state()).toBe('SPEAKING.paused');
    expect(s.recorder.drain()).toEqual([]);

    s.send(control('RESUME'));
    expect(s.state()).toBe('SPEAKING.playing');
    expect(ctx(s).paused).toBe(false);
    expect(s.recorder.drain()).toEqual([
      { action: 'resumeWorker', params: { utteranceId: 'u1', reason: 'client' } },
      { action: 'notifyState', params: { state: 'SPEAKING' } },
    ]);
    s.send(control('RESUME'));
    expect(s.recorder.drain()).toEqual([]);
  });

  it('text sent while paused queues', () => {
    const s = speaking();
    s.send(control('PAUSE'));
    s.send(text('Later.'));
    expect(s.state()).toBe('SPEAKING.paused');
    expect(ctx(s).queue).toEqual(['Later.']);
  });

  it('STOP while playing or paused stops the worker and drops queued and buffered text', () => {
    for (const pauseFirst of [false, true]) {
      const s = speaking();
      s.send(text('Queued.'));
      s.send(text('partial', false));
      if (pauseFirst) s.send(control('PAUSE'));
      s.recorder.drain();
      s.send(control('STOP'));
      expect(s.state()).toBe('LISTENING');
      expect(s.recorder.drain()).toEqual([
        { action: 'stopWorker', params: { utteranceId: 'u1', reason: 'client' } },
        { action: 'notifyState', params: { state: 'LISTENING' } },
      ]);
      expect(ctx(s)).toMatchObject({ queue: [], buffer: '', paused: false, utterance: null });
    }
  });

  it('during a barge-in: RESUME resumes, STOP stops, PAUSE keeps the hold without a second PAUSE', () => {
    const r = bargedIn({ bargeInPolicy: 'stop' });
    r.send(control('RESUME'));
    expect(r.state()).toBe('SPEAKING.playing');
    expect(names(r.recorder.drain())).toEqual(['resumeWorker', 'notifyState']);

    const st = bargedIn({ bargeInPolicy: 'resume' });
    st.send(control('STOP'));
    expect(st.state()).toBe('LISTENING');
    expect(st.recorder.drain()).toEqual([
      { action: 'stopWorker', params: { utteranceId: 'u1', reason: 'client' } },
      { action: 'notifyState', params: { state: 'LISTENING' } },
    ]);

    const p = bargedIn({ bargeInPolicy: 'resume', maxBargeInMs: 1000 });
    p.send(control('PAUSE'));
    expect(p.state()).toBe('SPEAKING.paused');
    expect(p.recorder.drain()).toEqual([{ action: 'notifyState', params: { state: 'PAUSED' } }]);
    // The hold is now the client's: neither speech end nor the barge-in limit ends it.
    p.send(speechEnd(200));
    p.clock.increment(5000);
    expect(p.state()).toBe('SPEAKING.paused');
    expect(p.recorder.drain()).toEqual([]);
    p.send(control('RESUME'));
    expect(names(p.recorder.drain())).toEqual(['resumeWorker', 'notifyState']);
  });

  it('in LISTENING there is nothing to control: PAUSE/RESUME no-op, STOP drops buffered text', () => {
    const s = session();
    s.send(text('half a sen', false));
    s.send(control('PAUSE'));
    s.send(control('RESUME'));
    expect(ctx(s).buffer).toBe('half a sen');
    s.send(control('STOP'));
    expect(ctx(s).buffer).toBe('');
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([]);
  });
});

describe('session machine: worker errors', () => {
  const setups: [string, () => RecordedSession][] = [
    ['SPEAKING', () => speaking()],
    ['PAUSED', () => {
      const s = speaking();
      s.send(control('PAUSE'));
      s.recorder.drain();
      return s;
    }],
    ['BARGED_IN', () => bargedIn()],
  ];

  it.each(setups)('from %s: back to LISTENING, error to the client, no worker control', (_name, make) => {
    const s = make();
    s.send(text('Queued.'));
    s.recorder.drain();
    s.send(workerError);
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([
      { action: 'reportError', params: { code: 'worker_error', message: 'stream lost', retryable: true } },
      { action: 'notifyState', params: { state: 'LISTENING' } },
    ]);
    expect(ctx(s)).toMatchObject({ queue: [], utterance: null, lastError: { message: 'stream lost', retryable: true } });
    // The session lives on.
    s.send(text('Again.'));
    expect(s.state()).toBe('SPEAKING.playing');
  });

  it('in LISTENING: the error is reported and the session stays', () => {
    const s = session();
    s.send({ type: 'WORKER.ERROR', message: 'no healthy worker', retryable: false });
    expect(s.state()).toBe('LISTENING');
    expect(s.recorder.drain()).toEqual([
      { action: 'reportError', params: { code: 'worker_error', message: 'no healthy worker', retryable: false } },
    ]);
  });
});

describe('session machine: transport closed', () => {
  const setups: [string, () => RecordedSession, string | null][] = [
    ['LISTENING', () => session(), null],
    ['SPEAKING', () => speaking(), 'u1'],
    ['PAUSED', () => {
      const s = speaking();
      s.send(control('PAUSE'));
      s.recorder.drain();
      return s;
    }, 'u1'],
    ['BARGED_IN', () => bargedIn(), 'u1'],
  ];

  it.each(setups)('from %s: STOP, EndSession, TERMINATED (final)', (_name, make, utteranceId) => {
    const s = make();
    s.send(CLOSED);
    expect(s.state()).toBe('TERMINATED');
    expect(s.actor.getSnapshot().status).toBe('done');
    expect(s.recorder.drain()).toEqual([
      { action: 'stopWorker', params: { utteranceId, reason: 'transport_closed' } },
      { action: 'endWorkerSession' },
      { action: 'notifyState', params: { state: 'TERMINATED' } },
    ]);
    // A terminated session's timers are gone and it reacts to nothing.
    s.clock.increment(60_000);
    expect(s.recorder.drain()).toEqual([]);
  });
});

describe('session machine: state messages', () => {
  it('notifyState is called with each new state, once per transition', () => {
    const s = startRecordedSession({ bargeInPolicy: 'resume' });
    const script: SessionEvent[] = [
      text('Hi.'), // SPEAKING
      text('Next.'), // queued: no message
      speechStart(), // BARGED_IN
      speechEnd(100), // SPEAKING
      control('PAUSE'), // PAUSED
      control('RESUME'), // SPEAKING
      DONE, // SPEAKING (next utterance)
      DONE, // LISTENING
      text('Again.'), // SPEAKING
      workerError, // LISTENING
      CLOSED, // TERMINATED
    ];
    script.forEach((e) => s.send(e));
    expect(notified(s.recorder.calls)).toEqual<ClientState[]>([
      'LISTENING',
      'SPEAKING',
      'BARGED_IN',
      'SPEAKING',
      'PAUSED',
      'SPEAKING',
      'SPEAKING',
      'LISTENING',
      'SPEAKING',
      'LISTENING',
      'TERMINATED',
    ]);
  });
});

describe('session machine: construction', () => {
  it('resolves input defaults and rejects bad input', () => {
    expect(resolveSessionInput(undefined)).toEqual(DEFAULT_SESSION_INPUT);
    expect(resolveSessionInput({ bargeInPolicy: 'stop', maxBargeInMs: undefined })).toEqual({
      ...DEFAULT_SESSION_INPUT,
      bargeInPolicy: 'stop',
    });
    expect(() => resolveSessionInput({ bargeInPolicy: 'never' as never })).toThrow(/policy/);
    expect(() => resolveSessionInput({ maxBargeInMs: -1 })).toThrow(/maxBargeInMs/);
  });

  it('the bare machine runs with no-op I/O actions', () => {
    const actor = createActor(sessionMachine, { input: { bargeInPolicy: 'resume' } }).start();
    for (const e of [text('Hi.'), speechStart(), speechEnd(100), DONE, CLOSED]) actor.send(e);
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('createSessionMachine wires a plain I/O object into the named actions', () => {
    const seen: string[] = [];
    const machine = createSessionMachine({
      startSynthesis: (p) => seen.push(`start ${p.utteranceId} ${p.text}`),
      pauseWorker: (p) => seen.push(`pause ${p.reason}`),
      endWorkerSession: () => seen.push('end'),
      notifyState: (p) => seen.push(p.state),
    });
    const actor = createActor(machine, { input: {} }).start();
    for (const e of [text('Hi.'), speechStart(), CLOSED]) actor.send(e);
    expect(seen).toEqual(['LISTENING', 'start u1 Hi.', 'SPEAKING', 'pause barge_in', 'BARGED_IN', 'end', 'TERMINATED']);
  });
});
