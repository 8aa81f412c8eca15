/**
 * End-to-end replay of one generated session path (machines/paths.ts) against the real
 * orchestrator and a real TTS worker: each path stimulus is produced by its real-world cause over
 * WebSocket (and, for worker errors, at the worker's gRPC socket), and after every step the test
 * checks what a client and the worker really see:
 *
 * - the `state` messages the client gets (exactly `expectedStateMessages` of the SPEC §6 row the
 *   step matches, tests/support/machine-spec.ts), and an `error` exactly when the row reports one;
 * - the calls the worker receives for the session's worker session (Synthesize with the
 *   utterance's text and id, Control PAUSE / RESUME / STOP, EndSession), observed on the worker
 *   by a gRPC interceptor (tests/support/worker-tap.ts);
 * - the audio: frames (1920 bytes, sequence from 1 per utterance, +1 per frame) arrive after
 *   SPEAKING, none after a PAUSE / barge-in hold or a STOP until speech resumes, `done` only after
 *   an utterance's last frame, and never for a stopped or held utterance.
 *
 * Stimulus → cause (see the header of tests/integration/session-paths.e2e.test.ts for the why):
 *   TEXT                     ws `text` (is_final as the path says)
 *   CONTROL                  ws `control`
 *   VAD.SPEECH_START         384 ms of real (espeak-ng) speech as binary mic frames; the
 *                            orchestrator's Silero VAD decides (faster than real time: its
 *                            debounce counts stream time, not wall time)
 *   VAD.SPEECH_END           300 ms+ of silence after the speech; for speech longer than the
 *                            interjection limit, 1 s more speech first
 *   UTTERANCE.DONE           the pacer drains the utterance: wait for `done`
 *   UTTERANCE.SYNTHESIZED    the worker ends the utterance's stream: wait for that, then deliver
 *                            it (the orchestrators here do not report it themselves, so the path
 *                            decides where it lands; each synthesis of such a path is awaited to
 *                            its end right after it starts, so a pause cannot keep it from ending)
 *   WORKER.ERROR             the worker fails for real at the gRPC layer: the session's stream
 *                            (stalled after 8 frames) ends with INTERNAL "synthesis failed", or,
 *                            in LISTENING before any utterance, the prewarm StartSession is
 *                            refused (RESOURCE_EXHAUSTED)
 *   after(maxBargeIn)        wait: the orchestrator for those paths has a short max_barged_in_ms
 *   TRANSPORT.CLOSED         close the socket
 * Injected (no real cause exists; sent into the real session actor inside the orchestrator):
 *   UTTERANCE.DONE of an utterance that is not current, and UTTERANCE.DONE while PAUSED.
 */
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import type { PathStimulus, SessionPath } from '../../machines/paths.js';
import type { BargeInPolicy, ClientState, SessionEvent, StartSynthesisParams } from '../../machines/session-machine.js';
import { msToSamples, toBytes, type SpeechKit } from '../fixtures/vad-signals.js';
import { names, notified, workerCalls, type RecordedCall } from './machine-recorder.js';
import { expectedStateMessages, specRowsFor } from './machine-spec.js';
import { PathClient, type ServerMsg } from './path-client.js';
import { waitFor } from '../helpers/poll.js';
import { withDeadline } from './worker-harness.js';
import type { Fault, WorkerCall, WorkerTap } from './worker-tap.js';

export type OrchestratorProfile = 'main' | 'elapse';

export interface E2eStack {
  tap: WorkerTap;
  orchestrator(policy: BargeInPolicy, profile: OrchestratorProfile): RunningOrchestrator;
  /** max_barged_in_ms of the `elapse` orchestrators. */
  elapseMaxBargeInMs: number;
  mic: MicSignals;
  /** Serialises session opening, so each WebSocket session is matched to its worker session. */
  openLock: Lock;
  /** Deadline for anything a step waits on. */
  timeoutMs: number;
}

export interface StepOutcome {
  stimulus: string;
  /** How the stimulus was produced. */
  cause: string;
  injected: boolean;
}

export interface PathOutcome {
  id: string;
  steps: StepOutcome[];
  ms: number;
}

/** Frames a stalled stream delivers before the worker "hangs" (then fails on demand). */
export const STALL_PASS_FRAMES = 8;

/** Speech and silence for the microphone, 16 kHz mono s16le. */
export interface MicSignals {
  /** Enough speech for the VAD to decide a start (its onset is at 0). */
  start: Buffer;
  /** More speech: with `start`, longer than any interjection limit used here. */
  more: Buffer;
  /** Silence longer than the VAD's 300 ms end debounce. */
  silence: Buffer;
}

export function micSignals(kit: SpeechKit): MicSignals {
  const speech = kit.speak('wait wait I would like to ask you something about the weather tomorrow');
  const start = msToSamples(384);
  const more = msToSamples(1024);
  if (speech.length < start + more) throw new Error(`espeak-ng speech is only ${speech.length / 16} ms long`);
  return {
    start: toBytes(speech.subarray(0, start)),
    more: toBytes(speech.subarray(start, start + more)),
    silence: toBytes(new Int16Array(msToSamples(480))),
  };
}

export class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export function describeStimulus(s: PathStimulus): string {
  if (s.kind === 'elapse') return `+${s.ms}ms(${s.delay})`;
  const { type, ...rest } = s.event;
  const args = Object.values(rest).map((v) => JSON.stringify(v));
  return args.length ? `${type}(${args.join(',')})` : type;
}

/** Why a stimulus has no real-world cause (the step is injected), or null when it has one. */
export function injectionReason(stimulus: PathStimulus, from: ClientState, current: string | null, synthesizing: string | null = null): string | null {
  if (stimulus.kind === 'event' && stimulus.event.type === 'UTTERANCE.SYNTHESIZED') {
    const { utteranceId } = stimulus.event;
    if (synthesizing === null || (utteranceId !== undefined && utteranceId !== synthesizing)) {
      return 'the end of a stream the worker is no longer producing: the orchestrator never reports one (a stopped or replaced stream is ignored)';
    }
    return null;
  }
  if (stimulus.kind !== 'event' || stimulus.event.type !== 'UTTERANCE.DONE') return null;
  const { utteranceId } = stimulus.event;
  if (utteranceId !== undefined && utteranceId !== current) {
    return 'done of an utterance that is not current: the orchestrator never sends one (STOP flushes the pacer with its pending end, a stopped stream is ignored)';
  }
  if (from === 'PAUSED') {
    return 'done while PAUSED: the paced output is held and no done fires for a held utterance (the pause contract in machines/session-machine.ts)';
  }
  return null;
}

type ExpectedRpc =
  | { rpc: 'Synthesize'; text: string; utteranceId: string }
  | { rpc: 'Control'; command: 'PAUSE' | 'RESUME' | 'STOP' }
  | { rpc: 'EndSession' };

const fmtRpc = (c: ExpectedRpc | WorkerCall): string =>
  c.rpc === 'Synthesize' ? `Synthesize(${c.utteranceId},${JSON.stringify(c.text)})` : c.rpc === 'Control' ? `Control(${c.command})` : c.rpc;

/**
 * The replay could not follow the path, through no fault of the session: the pacer finished the
 * playing utterance (a real, timed event) before the path's steps that come before its done had
 * all been caused. The worker, shared with every other replayed session, was too slow to keep
 * ahead of real time. The runner replays such a path again in a fresh session.
 */
export class InconclusiveReplay extends Error {}

function fail(where: string, what: string): never {
  throw new Error(`${where}: ${what}`);
}

interface SilentWindow {
  /** Message index of the state (or done) message that opened it. */
  from: number;
  reason: string;
  /** `done` is forbidden too (a held or stopped utterance never completes). */
  noDone: boolean;
}

/**
 * Replays `path` end to end in its own WebSocket session on the orchestrator for its policy;
 * throws (naming the path, step and what differed) on the first mismatch.
 */
export async function replayEndToEnd(path: SessionPath, stack: E2eStack): Promise<PathOutcome> {
  const started = performance.now();
  const { tap, timeoutMs: T } = stack;
  const events = path.steps.map((s) => (s.stimulus.kind === 'event' ? s.stimulus.event : null));

  // ---- plan the worker fault, if the path has a worker error ---------------------------------
  const errorSteps = events.flatMap((e, i) => (e?.type === 'WORKER.ERROR' ? [i] : []));
  if (errorSteps.length > 1) fail(path.id, 'more than one WORKER.ERROR: no real cause planned for a second one');
  let prewarmFault = false;
  let stall: { step: number; utteranceId: string } | undefined;
  if (errorSteps.length === 1) {
    const w = errorSteps[0]!;
    const from = w === 0 ? path.initial.clientState : path.steps[w - 1]!.clientState;
    const synths = path.steps.slice(0, w).flatMap((s, i) => s.calls.filter((c) => c.action === 'startSynthesis').map((c) => ({ step: i, utteranceId: (c.params as StartSynthesisParams).utteranceId })));
    if (from === 'LISTENING') {
      if (synths.length > 0) fail(path.id, 'WORKER.ERROR in LISTENING after an utterance: no real cause (nothing streams then)');
      prewarmFault = true;
    } else {
      stall = synths.at(-1) ?? fail(path.id, 'WORKER.ERROR while speaking without an utterance');
    }
  }
  const profile: OrchestratorProfile = path.steps.some((s) => s.stimulus.kind === 'elapse') ? 'elapse' : 'main';
  const orch = stack.orchestrator(path.input.bargeInPolicy, profile);
  const maxBargeInMs = profile === 'elapse' ? stack.elapseMaxBargeInMs : path.input.maxBargeInMs;

  // ---- open the session, matched to its worker session ---------------------------------------
  let fault: Fault | undefined;
  const opened = await stack.openLock.run(async () => {
    const hold = prewarmFault ? tap.holdNextStartSession() : undefined;
    try {
      const mark = tap.calls.length;
      const client = await PathClient.connect(`ws://127.0.0.1:${orch.ws.port}`);
      const greeting = await client.waitFor((m) => m.type === 'session_start', 'session_start', T);
      let workerSession: string | undefined;
      if (hold) await withDeadline(hold.arrived, T, 'the held StartSession');
      else {
        // Only this session is opening, and sessions call StartSession only when they open.
        const refused = tap.refused.length;
        const started = () => tap.calls.slice(mark).find((c) => c.rpc === 'StartSession');
        await waitFor(() => started() ?? tap.refused.length > refused, 'the prewarm StartSession at the worker', T, 2);
        workerSession = started()?.sessionId ?? fail(path.id, `the worker refused the prewarm: ${tap.refused.at(-1) ?? ''}`);
      }
      return { client, wsSession: greeting.msg.session_id as string, workerSession, hold };
    } finally {
      tap.disarmStartSessionHold();
    }
  });
  const { client, wsSession, workerSession } = opened;
  fault = opened.hold;
  const runtime = orch.sessions.get(wsSession)?.runtime ?? fail(path.id, `no runtime for session ${wsSession}`);
  // The prewarm StartSession is how the session was matched to its worker session; the rest are
  // the calls the path causes.
  const sessionCalls = (): WorkerCall[] => (workerSession ? tap.callsFor(workerSession).filter((c) => c.rpc !== 'StartSession') : []);

  const outcomes: StepOutcome[] = [];
  const expectedRpcs: ExpectedRpc[] = [];
  /** How many of `expectedRpcs` each step (so far) accounts for. */
  const rpcSteps: number[] = [];
  const windows: SilentWindow[] = [];
  /** Utterances a STOP ended: none of them may ever be done. */
  const stopped = new Set<string>();
  let state: ClientState = path.initial.clientState;
  let current: string | null = null; // the machine's current utterance
  let aheadOf: string | null = null; // the utterance synthesised ahead of it
  let synthesizing: string | null = null; // the utterance whose stream the worker produces
  const deliversSynthesized = events.some((e) => e?.type === 'UTTERANCE.SYNTHESIZED');
  /** Utterances whose done a step of the path accounted for. */
  const doneSeen = new Set<string>();
  /** The playing utterance's done, arrived before the path's UTTERANCE.DONE caused it (a race). */
  const earlyDone = (): number =>
    state === 'SPEAKING' && current !== null && !doneSeen.has(current) ? client.messages.findIndex((m) => m.type === 'done' && m.utterance_id === current) : -1;
  let bound = workerSession !== undefined; // the session holds a worker session
  let hasSynthesis = false; // the runtime only sends Control once it has started a synthesis
  let vadInSpeech = false;
  let lastStateAt = 0;

  const statesFrom = (from: number): ServerMsg[] => client.messages.slice(from).filter((m) => m.type === 'state');

  /** Every silent window: no audio (and, if so marked, no done) until the next SPEAKING. */
  const checkSilence = (where: string): void => {
    for (const w of windows) {
      for (let i = w.from + 1; i < client.messages.length; i += 1) {
        const m = client.messages[i]!;
        if (m.type === 'state' && m.state === 'SPEAKING') break;
        if (m.type === 'audio') fail(where, `audio after ${w.reason} (${client.describe(w.from)})`);
        if (w.noDone && m.type === 'done') fail(where, `done after ${w.reason} (${client.describe(w.from)})`);
      }
    }
  };

  /**
   * The worker calls so far are exactly the expected ones (`prefix`: they start with them), step
   * by step. Within a step the order is not checked: Control travels on a connection of its own,
   * so a STOP and the EndSession after it may arrive either way round. The one order the runtime
   * guarantees is checked: a Synthesize after a STOP waits for the STOP's answer.
   */
  const checkRpcs = async (where: string, prefix = false): Promise<void> => {
    if (expectedRpcs.length > 0) {
      if (!workerSession) fail(where, `expected ${expectedRpcs.map(fmtRpc).join(', ')} without a worker session`);
      await waitFor(() => sessionCalls().length >= expectedRpcs.length, `${where}: worker calls ${expectedRpcs.map(fmtRpc).join(', ')} (got ${sessionCalls().map(fmtRpc).join(', ')})`, T);
    }
    const got = sessionCalls().map(fmtRpc);
    if (!prefix && got.length !== expectedRpcs.length) fail(where, `worker calls ${JSON.stringify(got)}, expected ${JSON.stringify(expectedRpcs.map(fmtRpc))}`);
    let at = 0;
    for (const n of rpcSteps) {
      const want = expectedRpcs.slice(at, at + n).map(fmtRpc);
      const seen = got.slice(at, at + n);
      if (JSON.stringify([...seen].sort()) !== JSON.stringify([...want].sort())) {
        fail(where, `worker calls ${JSON.stringify(got)}, expected ${JSON.stringify(expectedRpcs.map(fmtRpc))} (a step's calls in any order)`);
      }
      const stop = want.indexOf('Control(STOP)');
      const synth = want.findIndex((c) => c.startsWith('Synthesize'));
      if (stop >= 0 && synth > stop && seen.indexOf('Control(STOP)') > seen.findIndex((c) => c.startsWith('Synthesize'))) {
        fail(where, `Synthesize reached the worker before the STOP it waits for: ${JSON.stringify(seen)}`);
      }
      at += n;
    }
  };

  try {
    // The session starts LISTENING (the machine's initial state message).
    const initialStates = notified(path.initial.calls as RecordedCall[]);
    let at = 0;
    for (const s of initialStates) {
      const hit = await client.waitFor((m) => m.type === 'state', `initial state ${s}`, T, at);
      if (hit.msg.state !== s) fail(`${path.id} start`, `state ${hit.msg.state ?? '?'}, expected ${s}`);
      at = hit.index + 1;
    }
    await checkRpcs(`${path.id} start`);

    for (const [i, step] of path.steps.entries()) {
      const stimulus = step.stimulus;
      const event: SessionEvent | null = stimulus.kind === 'event' ? stimulus.event : null;
      const from = state;
      const to = step.clientState;
      const where = `${path.id} step ${i + 1} ${describeStimulus(stimulus)} ${from}→${to}`;
      let mark = client.messages.length;
      const early = earlyDone();
      if (early >= 0) {
        if (event?.type !== 'UTTERANCE.DONE') throw new InconclusiveReplay(`${where}: the pacer finished ${String(current)} before this step (${client.describe(early)})`);
        mark = early; // the done this step waits for came while the step before was observed
      }

      // What SPEC §6 says this step must show (the same oracle as the unit path test).
      const rows = specRowsFor(from, stimulus, to, path.input).filter((r) => !r.ignored);
      const control = names(workerCalls(step.calls as RecordedCall[]));
      const row = rows.find((r) => JSON.stringify(r.worker) === JSON.stringify(control)) ?? rows[0] ?? fail(where, 'no SPEC row allows it');
      const wantStates = expectedStateMessages(from, to, row);
      if (JSON.stringify(wantStates) !== JSON.stringify(notified(step.calls as RecordedCall[]))) {
        fail(where, `path data notifies ${JSON.stringify(notified(step.calls as RecordedCall[]))}, SPEC says ${JSON.stringify(wantStates)}`);
      }

      // The worker calls the runtime makes for the machine's worker control.
      const rpcsBefore = expectedRpcs.length;
      let startedUtterance: string | null = null;
      let startedAhead: string | null = null;
      for (const call of step.calls) {
        const p = call.params as Record<string, unknown> | undefined;
        switch (call.action) {
          case 'startSynthesis':
            expectedRpcs.push({ rpc: 'Synthesize', text: String(p?.text), utteranceId: String(p?.utteranceId) });
            if (p?.ahead === true) startedAhead = String(p.utteranceId);
            else startedUtterance = String(p?.utteranceId);
            hasSynthesis = true;
            break;
          case 'pauseWorker':
          case 'resumeWorker':
          case 'stopWorker':
            if (bound && hasSynthesis) expectedRpcs.push({ rpc: 'Control', command: call.action === 'pauseWorker' ? 'PAUSE' : call.action === 'resumeWorker' ? 'RESUME' : 'STOP' });
            break;
          case 'endWorkerSession':
            if (bound) expectedRpcs.push({ rpc: 'EndSession' });
            bound = false;
            break;
          default:
            break;
        }
      }

      // ---- cause -------------------------------------------------------------------------------
      const reason = injectionReason(stimulus, from, current, synthesizing);
      let cause: string;
      if (stall?.step === i) fault = tap.stallSynthesis(workerSession as string, stall.utteranceId, STALL_PASS_FRAMES);
      if (reason !== null) {
        runtime.actor.send(event as SessionEvent);
        cause = `injected into the session actor: ${reason}`;
      } else if (stimulus.kind === 'elapse') {
        cause = `waited for max_barged_in_ms (${maxBargeInMs} ms)`;
      } else {
        const e = event as SessionEvent;
        switch (e.type) {
          case 'TEXT':
            client.sendJson({ type: 'text', text: e.text, is_final: e.isFinal });
            cause = 'ws text';
            break;
          case 'CONTROL':
            client.sendJson({ type: 'control', command: e.command });
            cause = 'ws control';
            break;
          case 'VAD.SPEECH_START':
            if (vadInSpeech) {
              // The VAD still hears the speech that started the last barge-in (a client RESUME
              // ended it): that speech ends first, in a state that ignores VAD.SPEECH_END.
              if (from === 'BARGED_IN') fail(where, 'the VAD is already in speech');
              client.sendAudio(stack.mic.silence);
              await client.waitFor((m) => m.type === 'vad' && m.speech === false, 'vad speech:false before the new speech', T, mark);
              if (statesFrom(mark).length > 0) fail(where, `the end of the earlier speech changed the state (${client.describe(mark)})`);
              mark = client.messages.length;
            }
            client.sendAudio(stack.mic.start);
            vadInSpeech = true;
            cause = 'speech on the microphone, the VAD decided';
            break;
          case 'VAD.SPEECH_END': {
            const long = e.speechMs > path.input.shortInterjectionMs;
            if (long) client.sendAudio(stack.mic.more);
            client.sendAudio(stack.mic.silence);
            vadInSpeech = false;
            await client.waitFor((m) => m.type === 'vad' && m.speech === false, 'vad speech:false', T, mark);
            cause = `${long ? 'long' : 'short'} speech then silence on the microphone, the VAD decided`;
            break;
          }
          case 'UTTERANCE.DONE':
            await client.waitFor((m) => m.type === 'done' && m.utterance_id === current, `done of ${String(current)}`, T, mark);
            if (current) doneSeen.add(current);
            cause = 'the pacer sent the last frame (done)';
            break;
          case 'UTTERANCE.SYNTHESIZED':
            await waitFor(() => runtime.lastSynthesized === synthesizing, `${where}: the worker to end the stream of ${String(synthesizing)}`, T);
            runtime.actor.send(e);
            cause = 'the worker ended the stream (delivered here)';
            break;
          case 'WORKER.ERROR':
            if (!fault) fail(where, 'no worker fault was armed');
            await withDeadline(fault.arrived, T, 'the faulted worker call');
            fault.fail();
            cause = prewarmFault ? 'the worker refused the prewarm StartSession (RESOURCE_EXHAUSTED)' : 'the worker stream stalled, then failed (INTERNAL)';
            if (bound) expectedRpcs.push({ rpc: 'EndSession' }); // the runtime frees the failed worker session
            bound = false;
            break;
          case 'TRANSPORT.CLOSED':
            await client.close();
            cause = 'socket closed';
            break;
        }
      }
      outcomes.push({ stimulus: describeStimulus(stimulus), cause, injected: reason !== null });

      // ---- observe -----------------------------------------------------------------------------
      if (to === 'TERMINATED') {
        // The client closed its socket, so the TERMINATED message cannot reach it: the session
        // actor itself must have reached its final state.
        await waitFor(() => runtime.actor.getSnapshot().status === 'done', `${where}: the session actor to terminate`, T);
        const value = runtime.actor.getSnapshot().value;
        if (value !== 'TERMINATED') fail(where, `actor ended in ${JSON.stringify(value)}`);
      } else {
        let at = mark;
        let lastState: { index: number; msg: ServerMsg } | undefined;
        for (const s of wantStates) {
          const waitMs = stimulus.kind === 'elapse' ? maxBargeInMs + T : T;
          const hit = await client.waitFor((m) => m.type === 'state', `state ${s}`, waitMs, at);
          if (hit.msg.state !== s) fail(where, `state ${hit.msg.state ?? '?'}, expected ${s} (${client.describe(mark)})`);
          at = hit.index + 1;
          lastState = hit;
        }
        if (row.reportsError) {
          const err = await client.waitFor((m) => m.type === 'error', 'an error message', T, mark);
          if (err.msg.code !== 'worker_error') fail(where, `error ${err.msg.code ?? '?'}, expected worker_error`);
        }
        await client.barrier(T);
        // After an injected event the real session may go on reacting to it (e.g. a next utterance
        // started into a held pacer): what the step itself must show comes first.
        const states = statesFrom(mark).map((m) => m.state).slice(0, reason === null ? undefined : wantStates.length);
        if (JSON.stringify(states) !== JSON.stringify(wantStates)) fail(where, `state messages ${JSON.stringify(states)}, expected ${JSON.stringify(wantStates)}`);
        const errors = client.messages.slice(mark).filter((m) => m.type === 'error');
        if (reason === null && errors.length !== (row.reportsError ? 1 : 0)) fail(where, `${errors.length} error messages (${errors.map((m) => m.message).join('; ')})`);
        if (stimulus.kind === 'elapse' && lastState) {
          const held = lastState.msg.at - lastStateAt;
          if (held < maxBargeInMs - 100) fail(where, `BARGED_IN ended after ${held.toFixed(0)} ms, before max_barged_in_ms ${maxBargeInMs}`);
        }
        if (lastState) lastStateAt = lastState.msg.at;

        // ---- audio (only for caused steps: an injected event has no real-world audio) ----------
        if (reason === null) {
          const sIdx = lastState?.index;
          const calls = names(step.calls as RecordedCall[]);
          for (const c of step.calls) {
            const id = (c.params as { utteranceId?: string | null } | undefined)?.utteranceId;
            if (c.action === 'stopWorker' && id) stopped.add(id);
          }
          if (event?.type === 'UTTERANCE.DONE') {
            // Nothing of the finished utterance after its done, nothing at all until the next one.
            const done = client.messages.findIndex((m, k) => k >= mark && m.type === 'done');
            windows.push({ from: done, reason: `done of ${String(current)}`, noDone: false });
          }
          if (to === 'SPEAKING' && sIdx !== undefined && startedUtterance) {
            await client.waitFor((m) => m.type === 'audio' && m.sequence === 1, `the first frame of ${startedUtterance}`, T, sIdx);
          } else if (to === 'SPEAKING' && sIdx !== undefined && calls.includes('resumeWorker')) {
            await client.waitFor((m) => m.type === 'audio' || m.type === 'done', 'audio after the resume', T, sIdx);
          } else if ((to === 'PAUSED' || to === 'BARGED_IN') && sIdx !== undefined) {
            windows.push({ from: sIdx, reason: `the ${to} hold`, noDone: true });
          } else if (to === 'LISTENING' && sIdx !== undefined && calls.includes('stopWorker')) {
            windows.push({ from: sIdx, reason: 'STOP', noDone: true });
          } else if (to === 'LISTENING' && event?.type === 'WORKER.ERROR' && sIdx !== undefined && (from === 'PAUSED' || from === 'BARGED_IN')) {
            windows.push({ from: sIdx, reason: `a worker error during the ${from} hold`, noDone: true });
          } else if (to === 'LISTENING' && event?.type === 'WORKER.ERROR' && from === 'SPEAKING') {
            // The audio that already arrived plays out, then the utterance is done.
            const done = await client.waitFor((m) => m.type === 'done' && m.utterance_id === current, `done of ${String(current)} after the worker error`, T, mark);
            if (current) doneSeen.add(current);
            windows.push({ from: done.index, reason: `done of ${String(current)} after the worker error`, noDone: false });
          } else if (to === 'LISTENING' && from === 'LISTENING') {
            windows.push({ from: mark - 1, reason: 'LISTENING', noDone: false });
          }
          checkSilence(where);
        }
      }
      rpcSteps.push(expectedRpcs.length - rpcsBefore);
      await checkRpcs(where, reason !== null);

      // The machine's current utterance after the step (and the one synthesised ahead of it).
      if (event?.type === 'UTTERANCE.DONE' && reason === null && aheadOf !== null) {
        current = aheadOf;
        aheadOf = null;
      }
      if (step.calls.some((c) => c.action === 'stopWorker')) aheadOf = null;
      if (to === 'LISTENING' || to === 'TERMINATED') {
        current = null;
        aheadOf = null;
        synthesizing = null;
      }
      if (event?.type === 'UTTERANCE.SYNTHESIZED' && reason === null) synthesizing = null;
      if (startedUtterance) current = startedUtterance;
      if (startedAhead) aheadOf = startedAhead;
      const started = startedAhead ?? startedUtterance;
      if (started) {
        synthesizing = started;
        // This path delivers the end of a stream itself: let the worker finish this one now,
        // before a later step (a pause, a barge-in) holds it.
        if (deliversSynthesized && reason === null && stall?.utteranceId !== started) {
          await waitFor(() => runtime.lastSynthesized === started, `${where}: the worker to end the stream of ${started}`, T);
        }
      }
      state = to;
    }

    // ---- end of the path: close the session (unless the path did) ---------------------------
    if (state !== 'TERMINATED') {
      const where = `${path.id} teardown`;
      await client.barrier(T);
      checkSilence(where);
      const before = sessionCalls().length;
      await client.close();
      await waitFor(() => runtime.actor.getSnapshot().status === 'done', `${where}: the session actor to terminate`, T);
      if (bound) await tap.waitFor((c) => c.rpc === 'EndSession' && c.sessionId === workerSession, `${where}: EndSession`, T);
      // After the path, the session may have moved on (a resumed utterance finished, a queued one
      // started) before the close: only these calls may follow.
      const extra = sessionCalls().slice(before);
      const allowed = extra.every((c) => c.rpc === 'Synthesize' || c.rpc === 'EndSession' || (c.rpc === 'Control' && c.command === 'STOP'));
      if (!allowed) fail(where, `unexpected worker calls at close: ${extra.map(fmtRpc).join(', ')}`);
    }
    checkAudio(path.id, client.messages);
    const late = client.messages.find((m) => m.type === 'done' && m.utterance_id !== undefined && stopped.has(m.utterance_id));
    if (late) fail(path.id, `done of ${String(late.utterance_id)}, which was stopped`);
    if (orch.sessions.has(wsSession)) fail(path.id, 'the orchestrator still lists the session');
    if (workerSession && tap.callsFor(workerSession).filter((c) => c.rpc === 'EndSession').length !== 1) {
      fail(path.id, `worker session ${workerSession} was not ended exactly once`);
    }
    return { id: path.id, steps: outcomes, ms: performance.now() - started };
  } catch (err) {
    let e = err as Error;
    // A step that failed because the playing utterance's done overtook it is a race, not a fault.
    if (!(e instanceof InconclusiveReplay) && earlyDone() >= 0) e = new InconclusiveReplay(`${e.message}\n  (the pacer finished ${String(current)} before the path's done)`);
    e.message += `\n  client saw: ${client.describe()}\n  worker got: ${sessionCalls().map(fmtRpc).join(', ') || '(nothing)'}`;
    throw e;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * Frames are 1920 bytes; sequences start at 1 after a SPEAKING message and go up by one; a
 * completed utterance of any length carries speech, not silence.
 */
function checkAudio(id: string, messages: readonly ServerMsg[]): void {
  let last: number | undefined;
  let speakingSince = false;
  let runPeak = 0;
  let runFrames = 0;
  for (const m of messages) {
    if (m.type === 'state' && m.state === 'SPEAKING') speakingSince = true;
    if (m.type === 'done') {
      if (runFrames >= 20 && runPeak < 1000) fail(id, `utterance ${m.utterance_id ?? '?'} is silent (peak ${runPeak})`);
    }
    if (m.type !== 'audio') continue;
    if (m.bytes !== 1920) fail(id, `an audio frame of ${m.bytes ?? '?'} bytes`);
    if (m.sequence === 1) {
      if (last !== undefined && !speakingSince) fail(id, 'a new utterance (sequence 1) without a SPEAKING message');
      runPeak = 0;
      runFrames = 0;
    } else if (m.sequence !== (last ?? 0) + 1) {
      fail(id, `audio sequence ${m.sequence ?? '?'} after ${last ?? 'none'}`);
    }
    last = m.sequence;
    speakingSince = false;
    runPeak = Math.max(runPeak, m.peak ?? 0);
    runFrames += 1;
  }
}
