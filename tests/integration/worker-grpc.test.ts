/**
 * The TTS worker end to end over real gRPC sockets (SPEC §4, §7): frame rules, PAUSE/RESUME
 * sample-exactness, STOP, session isolation, model management, bad input with precise status
 * codes, resource leaks under abuse, Redis discovery and graceful shutdown.
 *
 * The real voice (en_US-joe-medium) is loaded once, by the `real voice` worker; everything that
 * does not need real speech runs on tiny synthetic test voices.
 */
import { waitFor } from '../helpers/poll.js';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WorkerRecord } from '../../workers/tts/discovery/registry.js';
import type { AudioFrame, TTSServiceClient } from '../../workers/tts/grpc/generated/tts.js';
import { createLogger } from '../../workers/tts/logger.js';
import { ModelManager } from '../../workers/tts/models/model-manager.js';
import { inferenceTuningFor } from '../../workers/tts/scheduling.js';
import { writeTestVoice } from '../../workers/tts/voices/test-voice.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import {
  activeTimeouts,
  Command,
  encodeRawTextChunk,
  FRAME_BYTES,
  FRAME_SAMPLES,
  frameProblems,
  grpcFailure,
  pcmOf,
  rpc,
  SAMPLE_RATE,
  startRawSynthesis,
  startSynthesis,
  startTestWorker,
  statusName,
  synthesizeAll,
  withDeadline,
  type StartSessionInput,
  type SynthesisCall,
  type WorkerHarness,
} from '../support/worker-harness.js';

const REAL_VOICE = 'en_US-joe-medium';
const REAL_VOICE_DIR = fileURLToPath(new URL(`../../voicepacks/piper/${REAL_VOICE}`, import.meta.url));
const MULTI_VOICE = 'en_US-test-multi'; // 3 speakers: alpha, beta, gamma
const MAX_TEXT_CHARS = 400;

/** Four sentences: with sentence chunking, four inferences, so a PAUSE after frame 3 lands mid-utterance. */
const TEXT_A =
  'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. ' +
  'How vexingly quick daft zebras jump. Sphinx of black quartz, judge my vow.';
/** Noise off and whole sentences: the same text gives the same samples every time (VITS is otherwise random). */
const DETERMINISTIC = { chunking: 'sentence', noiseScale: 0, noiseW: 0 } as const;

const codeOf = async (promise: Promise<unknown>): Promise<string> => statusName((await grpcFailure(promise)).code);

/** Opens sessions through one client and ends whichever are still open after each test. */
function sessionTracker(getClient: () => TTSServiceClient) {
  const opened = new Set<string>();
  return {
    opened,
    async open(request: StartSessionInput = {}): Promise<string> {
      const res = await rpc(getClient()).startSession(request);
      opened.add(res.sessionId);
      return res.sessionId;
    },
    async endAll(): Promise<void> {
      const api = rpc(getClient());
      await Promise.all([...opened].map((id) => api.endSession(id).catch(() => undefined)));
      opened.clear();
    },
  };
}

// =============================================================================================
describe('TTS worker over gRPC, real voice', () => {
  let root: string;
  let h: WorkerHarness;
  let client: TTSServiceClient;
  let api: ReturnType<typeof rpc>;
  const sessions = sessionTracker(() => client);
  /** TEXT_A synthesized uninterrupted with DETERMINISTIC options. */
  let reference: AudioFrame[];
  let referencePcm: Buffer;

  beforeAll(async () => {
    // A voices root holding the real voice (its files linked, not copied) and a multi-speaker test voice.
    root = mkdtempSync(join(tmpdir(), 'tts-grpc-voices-'));
    const joe = join(root, 'piper', REAL_VOICE);
    mkdirSync(joe, { recursive: true });
    for (const f of readdirSync(REAL_VOICE_DIR)) symlinkSync(join(REAL_VOICE_DIR, f), join(joe, f));
    writeTestVoice(root, { id: MULTI_VOICE, numSpeakers: 3 });

    h = await startTestWorker({
      voicepacksDir: root,
      defaultModel: REAL_VOICE,
      maxTextChars: MAX_TEXT_CHARS,
      chunking: 'stream',
      maxConcurrentSessions: 16,
    });
    client = h.client();
    api = rpc(client);

    const id = await sessions.open({ options: DETERMINISTIC });
    reference = await synthesizeAll(client, id, TEXT_A);
    referencePcm = pcmOf(reference);
    await sessions.endAll();
  });

  afterEach(async () => {
    await sessions.endAll();
  });

  afterAll(async () => {
    await h?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Highest frame sequence `call` has received so far (0 before any). */
  const maxSequence = (call: SynthesisCall): number => Math.max(0, ...call.received.map((r) => r.frame.sequence));

  /**
   * For a paused synthesis: waits until every frame the worker has handed to the transport has
   * arrived (the worker's count of sent frames equals what the client holds), and returns that count.
   */
  const settle = async (id: string, call: SynthesisCall): Promise<number> => {
    await waitFor(() => {
      const sent = h.worker.sessions.get(id).active?.lastSequence;
      return sent !== undefined && sent === maxSequence(call) && call.received.length === sent;
    }, 'the frames sent before the pause to arrive');
    return call.received.length;
  };

  describe('frames', () => {
    it('reference synthesis is well-formed and deterministic with noise off', async () => {
      expect(frameProblems(reference, reference[0]!.sessionId)).toEqual([]);
      expect(reference.length).toBeGreaterThan(200); // ~10 s of speech
      const id = await sessions.open({ options: DETERMINISTIC });
      const again = await synthesizeAll(client, id, TEXT_A);
      expect(again.length).toBe(reference.length);
      expect(pcmOf(again).equals(referencePcm)).toBe(true);
    });

    it('streams 1920-byte 48 kHz 20 ms frames, sequence 1.., exactly one is_final (the last, with stats)', async () => {
      const id = await sessions.open(); // worker defaults: stream chunking, voice noise
      const call = startSynthesis(client, id, { text: TEXT_A, utteranceId: 'utt-1' });
      const frames = await withDeadline(call.done, 30_000, 'the synthesis');

      expect(frameProblems(frames, id)).toEqual([]);
      expect(frames.length).toBeGreaterThan(100);
      frames.forEach((f, i) => {
        expect(f.sequence).toBe(i + 1);
        expect(f.sampleRate).toBe(SAMPLE_RATE);
        expect(f.frameDurationMs).toBe(20);
        expect(f.utteranceId).toBe('utt-1');
        expect(f.isFinal).toBe(i === frames.length - 1);
        // No empty non-final frame; a completed synthesis ends on its last data frame.
        expect(f.audio.length).toBe(FRAME_BYTES);
      });
      expect(frames.filter((f) => f.isFinal)).toHaveLength(1);
      const last = frames.at(-1)!;
      expect(last.stats).toBeDefined();
      expect(last.stats!.stopped).toBe(false);
      expect(last.stats!.frames).toBe(frames.length);
      expect(last.stats!.rtf).toBeGreaterThan(0);
      expect(last.stats!.firstFrameLatencyMs).toBeGreaterThanOrEqual(0);
      expect(last.validSamples).toBeGreaterThan(0);
      expect(last.validSamples).toBeLessThanOrEqual(FRAME_SAMPLES);
      // Padding after the last valid sample is silence.
      expect(last.audio.subarray(last.validSamples * 2).every((b) => b === 0)).toBe(true);
      // Worker clock, non-decreasing, close to ours.
      for (let i = 1; i < frames.length; i++) expect(frames[i]!.timestampMs).toBeGreaterThanOrEqual(frames[i - 1]!.timestampMs);
      expect(Math.abs(last.timestampMs - Date.now())).toBeLessThan(10_000);
      // The audio is not silence.
      expect(pcmOf(frames).some((b) => b !== 0)).toBe(true);
      expect(call.status?.code).toBe(status.OK);
    });

    it('stats.audio_ms is the unpadded duration of the audio (tts.proto SynthesisStats.audio_ms)', async () => {
      const id = await sessions.open({ options: DETERMINISTIC });
      const frames = await synthesizeAll(client, id, 'Hello there.');
      const validMs = (frames.reduce((n, f) => n + f.validSamples, 0) / SAMPLE_RATE) * 1000;
      expect(frames.at(-1)!.validSamples).toBeLessThan(FRAME_SAMPLES); // the last frame is padded here
      expect(frames.at(-1)!.stats!.audioMs).toBeCloseTo(validMs, 3);
    });
  });

  describe('control', () => {
    it('PAUSE holds output at once and RESUME continues at the exact next sample', async () => {
      const id = await sessions.open({ options: DETERMINISTIC });
      const call = startSynthesis(client, id, TEXT_A);
      await call.waitForFrames(3);

      const pause = await api.control(id, Command.PAUSE);
      const receivedBeforeAck = call.received.length;
      expect(pause.success).toBe(true);
      expect(Math.abs(pause.timestampMs - Date.now())).toBeLessThan(2000);
      expect(pause.lastSequence).toBeGreaterThanOrEqual(3);

      // The worker goes on synthesizing while paused: frames are ready but must be held back.
      await waitFor(() => (h.worker.sessions.get(id).active?.stream.buffered ?? 0) > 0, 'the worker to buffer frames while paused');
      const held = await settle(id, call);
      expect(held).toBeLessThan(reference.length); // really mid-utterance
      for (let i = 0; i < 5; i++) {
        await api.getCapabilities(); // real network round trips, each giving a stray frame time to arrive
        await api.listModels();
      }
      expect(call.received.length).toBe(held);
      // Whatever arrived after the ack was emitted before it (worker clock).
      for (const r of call.received.slice(receivedBeforeAck)) expect(r.frame.timestampMs).toBeLessThanOrEqual(pause.timestampMs);
      expect(call.status).toBeUndefined(); // still open, just held

      // PAUSE while paused is acknowledged and changes nothing.
      expect((await api.control(id, Command.PAUSE)).success).toBe(true);
      await api.getCapabilities();
      expect(call.received.length).toBe(held);

      const resume = await api.control(id, Command.RESUME);
      expect(resume.success).toBe(true);
      const frames = await withDeadline(call.done, 30_000, 'the resumed synthesis');
      expect(frameProblems(frames, id)).toEqual([]);
      for (const f of frames.slice(held)) expect(f.timestampMs).toBeGreaterThanOrEqual(resume.timestampMs);
      expect(frames.length).toBe(reference.length);
      expect(pcmOf(frames).equals(referencePcm)).toBe(true);
      expect(frames.at(-1)!.stats!.stopped).toBe(false);
    });

    describe('ack last_sequence is the last frame emitted before the ack (tts.proto ControlResponse.last_sequence)', () => {
      /** Starts TEXT_A and stops reading after frame 3, so the worker blocks writing into a full transport. */
      const backedUp = async () => {
        const id = await sessions.open({ options: DETERMINISTIC });
        const call = startSynthesis(client, id, TEXT_A);
        await call.waitForFrames(3);
        call.call.pause();
        await waitFor(() => (h.worker.sessions.get(id).active?.stream.buffered ?? 0) > 0, 'the worker to back up');
        await api.getCapabilities();
        return { id, call };
      };

      it('PAUSE', async () => {
        const { id, call } = await backedUp();
        const pause = await api.control(id, Command.PAUSE);
        call.call.resume();
        const held = await settle(id, call);
        for (const r of call.received) expect(r.frame.timestampMs).toBeLessThanOrEqual(pause.timestampMs); // all emitted before the ack
        expect(held).toBe(pause.lastSequence);
        await api.control(id, Command.RESUME);
        expect(pcmOf(await withDeadline(call.done, 30_000, 'the resumed synthesis')).equals(referencePcm)).toBe(true);
      });

      it('STOP', async () => {
        const { id, call } = await backedUp();
        const stop = await api.control(id, Command.STOP);
        call.call.resume();
        const frames = await withDeadline(call.done, 30_000, 'the stopped synthesis');
        const data = frames.slice(0, -1);
        for (const f of data) expect(f.timestampMs).toBeLessThanOrEqual(stop.timestampMs); // all emitted before the ack
        expect(data.length).toBe(stop.lastSequence);
      });
    });

    it('STOP ends the stream with an empty final marker; the session takes a new synthesis', async () => {
      const id = await sessions.open({ options: DETERMINISTIC });
      const call = startSynthesis(client, id, TEXT_A);
      await call.waitForFrames(3);
      const stop = await api.control(id, Command.STOP);
      expect(stop.success).toBe(true);
      const frames = await withDeadline(call.done, 30_000, 'the stopped synthesis');

      expect(frameProblems(frames, id)).toEqual([]);
      const marker = frames.at(-1)!;
      expect(marker.isFinal).toBe(true);
      expect(marker.audio.length).toBe(0);
      expect(marker.validSamples).toBe(0);
      expect(marker.stats?.stopped).toBe(true);
      const data = frames.slice(0, -1);
      expect(data.length).toBeGreaterThanOrEqual(3);
      expect(data.length).toBeLessThan(reference.length);
      expect(data.every((f) => !f.isFinal && f.audio.length === FRAME_BYTES)).toBe(true);
      expect(marker.sequence).toBe(data.length + 1);
      expect(marker.stats!.frames).toBe(data.length);
      for (const f of data) expect(f.timestampMs).toBeLessThanOrEqual(stop.timestampMs); // nothing emitted after the ack
      expect(stop.lastSequence).toBeGreaterThanOrEqual(3);
      // What was sent is exactly the start of the uninterrupted utterance.
      expect(pcmOf(data).equals(referencePcm.subarray(0, data.length * FRAME_BYTES))).toBe(true);

      const next = await synthesizeAll(client, id, 'Stopped, and speaking again.');
      expect(frameProblems(next, id)).toEqual([]);
      expect(next.at(-1)!.audio.length).toBe(FRAME_BYTES);
      expect(next.at(-1)!.stats!.stopped).toBe(false);
    });

    it('once STOP is acknowledged the session takes a new synthesis, even while the stopped stream cannot yet send its end', async () => {
      const id = await sessions.open({ options: DETERMINISTIC });
      const call = startSynthesis(client, id, TEXT_A);
      await call.waitForFrames(3);
      call.call.pause(); // the client stops reading: the worker's writes back up until it waits to write
      let sent = -1;
      let still = 0;
      await waitFor(async () => {
        await api.getCapabilities();
        const now = h.worker.sessions.get(id).active?.lastSequence ?? 0;
        still = now === sent ? still + 1 : 0;
        sent = now;
        return still >= 3;
      }, 'the worker to block writing');
      expect((await api.control(id, Command.STOP)).success).toBe(true);
      const next = await synthesizeAll(client, id, 'Stopped, and speaking again.', 20_000);
      expect(frameProblems(next, id)).toEqual([]);
      expect(next.at(-1)!.stats!.stopped).toBe(false);
      call.call.resume();
      const stopped = await withDeadline(call.done, 30_000, 'the stopped synthesis');
      expect(stopped.at(-1)!.stats!.stopped).toBe(true);
    });

    it('two sessions are isolated: one stays paused while the other streams to completion', async () => {
      const [a, b] = await Promise.all([sessions.open({ options: DETERMINISTIC }), sessions.open({ options: DETERMINISTIC })]);
      const callA = startSynthesis(client, a, TEXT_A);
      const callB = startSynthesis(client, b, TEXT_A);
      await callA.waitForFrames(3);
      const pauseA = await api.control(a, Command.PAUSE);
      expect(pauseA.success).toBe(true);
      const heldA = await settle(a, callA);
      expect(heldA).toBeLessThan(reference.length);

      const framesB = await withDeadline(callB.done, 30_000, 'B to finish while A is paused');
      expect(frameProblems(framesB, b)).toEqual([]);
      expect(pcmOf(framesB).equals(referencePcm)).toBe(true);
      // A got nothing meanwhile and is still open and paused.
      await api.getCapabilities();
      expect(callA.received.length).toBe(heldA);
      expect(callA.status).toBeUndefined();
      expect(h.worker.sessions.get(a).active?.stream.paused).toBe(true);

      expect((await api.control(a, Command.RESUME)).success).toBe(true);
      const framesA = await withDeadline(callA.done, 30_000, 'A to finish after RESUME');
      expect(frameProblems(framesA, a)).toEqual([]);
      expect(pcmOf(framesA).equals(referencePcm)).toBe(true);
    });
  });

  describe('bad input gets a precise status', () => {
    it('empty or whitespace-only text: INVALID_ARGUMENT', async () => {
      const id = await sessions.open();
      expect(await codeOf(startSynthesis(client, id, '').done)).toBe('INVALID_ARGUMENT');
      expect(await codeOf(startSynthesis(client, id, ' \n\t  ').done)).toBe('INVALID_ARGUMENT');
      expect(await codeOf(startSynthesis(client, id, { text: ['', '   ', ''] }).done)).toBe('INVALID_ARGUMENT');
      // A stream that half-closes without any chunk.
      expect(await codeOf(startRawSynthesis(client, []).done)).toBe('INVALID_ARGUMENT');
      expect(h.worker.sessions.get(id).active).toBeUndefined();
    });

    it('text over limits.max_text_chars: INVALID_ARGUMENT, in one chunk or accumulated', async () => {
      const id = await sessions.open();
      expect(await codeOf(startSynthesis(client, id, 'a'.repeat(MAX_TEXT_CHARS + 1)).done)).toBe('INVALID_ARGUMENT');
      const half = 'word '.repeat(MAX_TEXT_CHARS / 10); // 200 chars
      expect(await codeOf(startSynthesis(client, id, { text: [half, half, 'x'] }).done)).toBe('INVALID_ARGUMENT');

      // Exactly at the limit is accepted (stopped after the first frame to save CPU).
      const atLimit = `${'Hello there, '.repeat(30)}abcdefghi.`;
      expect(atLimit).toHaveLength(MAX_TEXT_CHARS);
      const call = startSynthesis(client, id, atLimit);
      await call.waitForFrames(1);
      await api.control(id, Command.STOP);
      const frames = await withDeadline(call.done, 30_000, 'the stopped synthesis');
      expect(frames.at(-1)!.stats?.stopped).toBe(true);
    });

    it('start_after_ms over ten minutes: INVALID_ARGUMENT; at the limit the synthesis runs', async () => {
      const id = await sessions.open();
      const call = startSynthesis(client, id, { text: 'Later.', startAfterMs: 600_001 });
      expect(await codeOf(call.done)).toBe('INVALID_ARGUMENT');
      const frames = await synthesizeAll(client, id, { text: 'Later.', startAfterMs: 600_000 });
      expect(frames.at(-1)?.isFinal).toBe(true);
      expect(frames.length).toBeGreaterThan(10);
    });

    it('invalid UTF-8 text: INVALID_ARGUMENT', async () => {
      const id = await sessions.open();
      const invalid = [
        Uint8Array.from([0xff, 0xfe]),
        Uint8Array.from([0x48, 0x69, 0xc3]), // "Hi" + a truncated 2-byte sequence
        Uint8Array.from([0xed, 0xa0, 0x80]), // an encoded UTF-16 surrogate
      ];
      for (const bytes of invalid) {
        expect(await codeOf(startRawSynthesis(client, [encodeRawTextChunk(id, bytes)]).done)).toBe('INVALID_ARGUMENT');
      }
      // In a later chunk of the stream.
      const first = encodeRawTextChunk(id, Buffer.from('Hello ', 'utf8'), false);
      const second = encodeRawTextChunk('', Uint8Array.from([0x80, 0x80]), true);
      expect(await codeOf(startRawSynthesis(client, [first, second]).done)).toBe('INVALID_ARGUMENT');
      // Control: the same hand encoder with valid UTF-8 is accepted and synthesized.
      const ok = await withDeadline(startRawSynthesis(client, [encodeRawTextChunk(id, Buffer.from('Fine.', 'utf8'))]).done, 30_000, 'valid raw');
      expect(frameProblems(ok, id)).toEqual([]);
    });

    it('unknown session: NOT_FOUND from Synthesize, Control and EndSession', async () => {
      expect(await codeOf(startSynthesis(client, 'no-such-session', 'Hello.').done)).toBe('NOT_FOUND');
      for (const command of [Command.PAUSE, Command.RESUME, Command.STOP, Command.RELOAD]) {
        expect(await codeOf(api.control('no-such-session', command))).toBe('NOT_FOUND');
      }
      expect(await codeOf(api.endSession('no-such-session'))).toBe('NOT_FOUND');
      // An ended session is unknown too.
      const id = await sessions.open();
      expect(await api.endSession(id)).toEqual({ ended: true });
      expect(await codeOf(api.endSession(id))).toBe('NOT_FOUND');
      expect(await codeOf(startSynthesis(client, id, 'Hello.').done)).toBe('NOT_FOUND');
    });

    it('control before any synthesis: FAILED_PRECONDITION', async () => {
      const id = await sessions.open();
      for (const command of [Command.PAUSE, Command.RESUME, Command.STOP]) {
        expect(await codeOf(api.control(id, command))).toBe('FAILED_PRECONDITION');
      }
    });

    it('StartSession: unknown model NOT_FOUND, unknown speaker and bad scales INVALID_ARGUMENT, duplicate id ALREADY_EXISTS', async () => {
      expect(await codeOf(api.startSession({ modelId: 'en_US-nobody-medium' }))).toBe('NOT_FOUND');
      expect(await codeOf(api.startSession({ modelId: MULTI_VOICE, options: { speaker: 'nobody' } }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(api.startSession({ modelId: MULTI_VOICE, options: { speaker: '3' } }))).toBe('INVALID_ARGUMENT');
      for (const lengthScale of [-1, 0.05, 6, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(await codeOf(api.startSession({ options: { lengthScale } }))).toBe('INVALID_ARGUMENT');
      }
      expect(await codeOf(api.startSession({ options: { noiseScale: -0.5 } }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(api.startSession({ options: { chunking: 'word' } }))).toBe('INVALID_ARGUMENT');
      // Known speakers, by name and by id, are accepted: the rejections above are about the speaker.
      sessions.opened.add((await api.startSession({ modelId: MULTI_VOICE, options: { speaker: 'beta' } })).sessionId);
      sessions.opened.add((await api.startSession({ modelId: MULTI_VOICE, options: { speaker: '2' } })).sessionId);
      const id = await sessions.open({ sessionId: 'fixed-id', options: { lengthScale: 1.2 } });
      expect(id).toBe('fixed-id');
      expect(await codeOf(api.startSession({ sessionId: 'fixed-id' }))).toBe('ALREADY_EXISTS');
      // Failed StartSessions hold no model.
      const multi = (await api.listModels()).models.find((m) => m.modelId === MULTI_VOICE);
      expect(multi?.sessionsUsing).toBe(2);
    });

    it('length_scale 0 means "the voice default" (tts.proto SynthesisOptions.length_scale)', async () => {
      const res = await api.startSession({ options: { lengthScale: 0 } });
      sessions.opened.add(res.sessionId);
      expect(res.modelId).toBe(REAL_VOICE);
    });

    it('a second Synthesize on a busy session: FAILED_PRECONDITION, and the first continues fine', async () => {
      const id = await sessions.open({ options: DETERMINISTIC });
      const first = startSynthesis(client, id, TEXT_A);
      await first.waitForFrames(1);
      const second = startSynthesis(client, id, 'Me too.');
      expect(await codeOf(second.done)).toBe('FAILED_PRECONDITION');
      expect(second.received).toHaveLength(0);
      expect(first.status).toBeUndefined(); // the first was still running when the second was refused
      const frames = await withDeadline(first.done, 30_000, 'the first synthesis');
      expect(frameProblems(frames, id)).toEqual([]);
      expect(pcmOf(frames).equals(referencePcm)).toBe(true);
    });

    it('a client cancelling mid-stream: others keep being served, the session becomes idle and reusable', async () => {
      const [a, b] = await Promise.all([sessions.open({ options: DETERMINISTIC }), sessions.open({ options: DETERMINISTIC })]);
      const callA = startSynthesis(client, a, TEXT_A);
      const callB = startSynthesis(client, b, TEXT_A);
      await callA.waitForFrames(2);
      callA.call.cancel();
      expect(await codeOf(callA.done)).toBe('CANCELLED');

      const framesB = await withDeadline(callB.done, 30_000, 'B after A cancelled');
      expect(frameProblems(framesB, b)).toEqual([]);
      expect(pcmOf(framesB).equals(referencePcm)).toBe(true);

      await waitFor(() => h.worker.sessions.get(a).active === undefined, 'the cancelled session to become idle');
      const again = await synthesizeAll(client, a, TEXT_A);
      expect(frameProblems(again, a)).toEqual([]);
      expect(pcmOf(again).equals(referencePcm)).toBe(true);
    });
  });

  describe('abuse', () => {
    it('1,000 bad calls leak no session, synthesis, model lease or timer, and the worker still synthesizes', async () => {
      const idle = await sessions.open({ options: DETERMINISTIC });
      const busy = await sessions.open({ options: DETERMINISTIC });
      const ours = new Set([idle, busy]);
      // A synthesis held paused for the whole run, the target of "busy session" calls.
      const busyCall = startSynthesis(client, busy, TEXT_A);
      await busyCall.waitForFrames(1);
      expect((await api.control(busy, Command.PAUSE)).success).toBe(true);
      const held = await settle(busy, busyCall);
      // Warm the multi-speaker voice so its load is not counted among the leaks.
      expect(await codeOf(api.startSession({ modelId: MULTI_VOICE, options: { speaker: 'nobody' } }))).toBe('INVALID_ARGUMENT');
      await api.getCapabilities();
      const timeoutsBefore = activeTimeouts();

      const abuses: Array<[string, () => Promise<unknown>]> = [
        ['INVALID_ARGUMENT', () => startSynthesis(client, idle, '').done],
        ['INVALID_ARGUMENT', () => startSynthesis(client, idle, ' \t ').done],
        ['INVALID_ARGUMENT', () => startSynthesis(client, idle, 'x'.repeat(MAX_TEXT_CHARS + 1)).done],
        ['INVALID_ARGUMENT', () => startRawSynthesis(client, [encodeRawTextChunk(idle, Uint8Array.from([0xc3, 0x28]))]).done],
        ['NOT_FOUND', () => startSynthesis(client, 'ghost', 'Hello.').done],
        ['NOT_FOUND', () => api.control('ghost', Command.PAUSE)],
        ['NOT_FOUND', () => api.endSession('ghost')],
        ['FAILED_PRECONDITION', () => api.control(idle, Command.STOP)],
        ['NOT_FOUND', () => api.startSession({ modelId: 'en_US-ghost-low' })],
        ['INVALID_ARGUMENT', () => api.startSession({ modelId: MULTI_VOICE, options: { speaker: 'nobody' } })],
        ['INVALID_ARGUMENT', () => api.startSession({ options: { lengthScale: 99 } })],
        ['FAILED_PRECONDITION', () => startSynthesis(client, busy, 'Interrupting.').done],
        ['ALREADY_EXISTS', () => api.startSession({ sessionId: idle })],
        [
          'CANCELLED',
          async () => {
            // Half a request, then the client gives up. The round trip first makes sure the call
            // reached the worker: grpc-js still opens the HTTP/2 stream of a call cancelled in the
            // same tick it was created, and leaves it open. Each gets a session of its own (ended
            // after): the worker briefly starts synthesizing a cancelled request (see "a Synthesize
            // cancelled before its final chunk starts no synthesis"), which would make a second
            // request on the same session fail with FAILED_PRECONDITION.
            const { sessionId } = await api.startSession({});
            try {
              const c = startSynthesis(client, sessionId, { text: 'Never finished', markFinal: false, halfClose: false });
              await api.getCapabilities();
              c.call.cancel();
              return await c.done;
            } finally {
              await api.endSession(sessionId);
            }
          },
        ],
      ];
      const TOTAL = 1000;
      const BATCH = 50;
      const wrong: string[] = [];
      for (let start = 0; start < TOTAL; start += BATCH) {
        await Promise.all(
          Array.from({ length: BATCH }, async (_, k) => {
            const [expected, run] = abuses[(start + k) % abuses.length]!;
            const got = await codeOf(run());
            if (got !== expected) wrong.push(`abuse #${(start + k) % abuses.length}: ${got}, expected ${expected}`);
          }),
        );
      }
      expect(wrong).toEqual([]);

      // Only the sessions this test opened exist (earlier tests ended theirs).
      expect(new Set(h.worker.sessions.ids())).toEqual(ours);
      expect(h.worker.sessions.size).toBe(2);
      expect(h.worker.sessions.get(idle).active).toBeUndefined();
      expect(busyCall.received.length).toBe(held); // none of it disturbed the paused one
      expect(busyCall.status).toBeUndefined();
      const models = (await api.listModels()).models;
      expect(models.find((m) => m.modelId === REAL_VOICE)?.sessionsUsing).toBe(2);
      expect(models.find((m) => m.modelId === MULTI_VOICE)?.sessionsUsing).toBe(0);

      // The busy one finishes correctly, and then nothing is synthesizing.
      await api.control(busy, Command.RESUME);
      const busyFrames = await withDeadline(busyCall.done, 30_000, 'the busy synthesis');
      expect(pcmOf(busyFrames).equals(referencePcm)).toBe(true);
      await waitFor(() => h.worker.sessions.ids().every((id) => h.worker.sessions.get(id).active === undefined), 'no active synthesis');

      // Timers: a few may belong to calls still winding down; a leak would be one per bad call.
      await waitFor(() => activeTimeouts() <= timeoutsBefore + 5, `Timeout handles to settle (before ${timeoutsBefore}, now ${activeTimeouts()})`);
      expect(activeTimeouts()).toBeLessThanOrEqual(timeoutsBefore + 5);

      const after = await synthesizeAll(client, idle, TEXT_A);
      expect(frameProblems(after, idle)).toEqual([]);
      expect(pcmOf(after).equals(referencePcm)).toBe(true);
    });
  });
});

// =============================================================================================
describe('test-voice worker: model management, logs, cancellation', () => {
  const A = 'en_US-test-a';
  const B = 'en_US-test-b';
  let root: string;
  let h: WorkerHarness;
  let client: TTSServiceClient;
  let api: ReturnType<typeof rpc>;
  const sessions = sessionTracker(() => client);

  const warmupLogs = (model: string) => h.logs.filter((l) => l.msg === 'Warmup synthesis complete' && l.model === model);

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tts-grpc-models-'));
    writeTestVoice(root, { id: A });
    writeTestVoice(root, { id: B });
    h = await startTestWorker({ voicepacksDir: root, defaultModel: A, captureLogs: true });
    client = h.client();
    api = rpc(client);
  });
  afterEach(async () => {
    await sessions.endAll();
  });
  afterAll(async () => {
    await h?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('logs "Warmup synthesis complete" with warmup_ms when the default model is loaded at start', () => {
    const [line, ...more] = warmupLogs(A);
    expect(more).toHaveLength(0);
    expect(line).toMatchObject({ level: 'info', model: A });
    expect(typeof line!.warmup_ms).toBe('number');
    expect(line!.warmup_ms as number).toBeGreaterThanOrEqual(0);
    expect(typeof line!.load_ms).toBe('number');
    // The test voice has no upsampling layer to prepare: the worker runs the voice's own file.
    expect(line!.model_file).toBe(join(root, 'piper', A, `${A}.onnx`));
    expect(h.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('ready'))).toBe(true);
  });

  it('ListModels shows every installed voice with loaded/default flags', async () => {
    const { models } = await api.listModels();
    expect(models.map((m) => m.modelId)).toEqual([A, B]);
    const [a, b] = models;
    expect(a).toMatchObject({ modelId: A, loaded: true, default: true, sessionsUsing: 0, sampleRate: 16_000, language: 'en_US' });
    expect(a!.loadedAtMs).toBeGreaterThan(0);
    expect(b).toMatchObject({ modelId: B, loaded: false, default: false, sessionsUsing: 0, loadedAtMs: 0 });
    expect(b!.tags).toContain('test');
  });

  it('LoadModel loads and warms a voice (logged); loading it again is a no-op', async () => {
    expect(warmupLogs(B)).toHaveLength(0);
    const loaded = await api.loadModel(B);
    expect(loaded.model).toMatchObject({ modelId: B, loaded: true, default: false });
    expect(loaded.warmupMs).toBeGreaterThanOrEqual(0);
    expect((await api.listModels()).models.find((m) => m.modelId === B)?.loaded).toBe(true);
    expect((await api.getCapabilities()).residentModels).toEqual([A, B]);
    const [line] = warmupLogs(B);
    expect(typeof line?.warmup_ms).toBe('number');

    const again = await api.loadModel(B);
    expect(again.warmupMs).toBe(0);
    expect(warmupLogs(B)).toHaveLength(1); // not warmed twice
  });

  it('LoadModel/UnloadModel of an unknown model: NOT_FOUND; no model id: INVALID_ARGUMENT', async () => {
    expect(await codeOf(api.loadModel('en_US-ghost-low'))).toBe('NOT_FOUND');
    expect(await codeOf(api.unloadModel('en_US-ghost-low', true))).toBe('NOT_FOUND');
    expect(await codeOf(api.loadModel(''))).toBe('INVALID_ARGUMENT');
  });

  it('UnloadModel refuses a model in use (FAILED_PRECONDITION) and unloads it with force once the session ended', async () => {
    const id = await sessions.open({ modelId: B });
    expect((await api.listModels()).models.find((m) => m.modelId === B)).toMatchObject({ loaded: true, sessionsUsing: 1 });
    expect(await codeOf(api.unloadModel(B))).toBe('FAILED_PRECONDITION');
    // The session still works: the refusal did not touch the model.
    const frames = await synthesizeAll(client, id, 'Still here.');
    expect(frameProblems(frames, id)).toEqual([]);

    await api.endSession(id);
    sessions.opened.delete(id);
    expect((await api.listModels()).models.find((m) => m.modelId === B)?.sessionsUsing).toBe(0);
    // Idle but loaded less than min_residency_seconds (60 s) ago: refused without force.
    expect(await codeOf(api.unloadModel(B))).toBe('FAILED_PRECONDITION');
    expect(await api.unloadModel(B, true)).toMatchObject({ unloaded: true });
    expect((await api.listModels()).models.find((m) => m.modelId === B)).toMatchObject({ loaded: false, sessionsUsing: 0 });
    expect(await codeOf(api.unloadModel(B, true))).toBe('NOT_FOUND'); // no longer resident
    expect((await api.getCapabilities()).residentModels).toEqual([A]);

    // A session asking for it loads it again.
    const back = await sessions.open({ modelId: B });
    expect(frameProblems(await synthesizeAll(client, back, 'Back.'), back)).toEqual([]);
  });

  it('a Synthesize cancelled before its final chunk starts no synthesis', async () => {
    const id = await sessions.open();
    const engine = h.worker.sessions.get(id).lease.engine;
    const synthesize = vi.spyOn(engine, 'synthesize');
    try {
      const call = startSynthesis(client, id, { text: 'Never finished', markFinal: false, halfClose: false });
      await api.getCapabilities(); // the call has reached the worker
      call.call.cancel();
      expect(await codeOf(call.done)).toBe('CANCELLED');
      for (let i = 0; i < 3; i++) await api.getCapabilities(); // the worker has seen the cancellation
      expect(synthesize).not.toHaveBeenCalled();
      expect(h.logs.filter((l) => l.msg === 'Synthesis finished' && l.session === id)).toEqual([]);

      // The session is free for the next request.
      expect(frameProblems(await synthesizeAll(client, id, 'Fine.'), id)).toEqual([]);
      expect(synthesize).toHaveBeenCalledTimes(1);
    } finally {
      synthesize.mockRestore();
    }
  });

  it('UnloadModel with force unloads a model in use and ends its sessions (tts.proto UnloadModelRequest.force)', async () => {
    const id = await sessions.open({ modelId: B });
    const res = await api.unloadModel(B, true);
    expect(res.unloaded).toBe(true);
    expect((await api.listModels()).models.find((m) => m.modelId === B)?.loaded).toBe(false);
    expect(await codeOf(startSynthesis(client, id, 'Hello.').done)).toBe('NOT_FOUND');
  });
});

// =============================================================================================
describe('onnxruntime settings from the entry point', () => {
  it('every voice the worker loads, preloaded or loaded later, runs with them (spinning off under a realtime loop)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'tts-tuning-voices-'));
    for (const id of ['en_US-tune-a', 'en_US-tune-b']) writeTestVoice(root, { id });
    const h = await startTestWorker({ voicepacksDir: root, defaultModel: 'en_US-tune-a', inference: inferenceTuningFor({ granted: true, priority: 10 }) });
    try {
      await h.worker.models.load('en_US-tune-b');
      for (const id of ['en_US-tune-a', 'en_US-tune-b']) {
        const lease = await h.worker.models.acquire(id);
        expect(lease.engine.model.tuning.spinning, id).toBe(false);
        lease.release();
      }
    } finally {
      await h.stop();
      rmSync(root, { recursive: true, force: true });
    }
    // Without a realtime loop onnxruntime's threads spin, its default and the faster one there.
    expect(inferenceTuningFor({ granted: false, reason: 'not permitted' })).toEqual({ spinning: true });
  });
});

describe('ModelManager idle eviction (injected clock, no waiting)', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tts-ttl-voices-'));
    for (const id of ['en_US-ttl-a', 'en_US-ttl-b', 'en_US-ttl-c']) writeTestVoice(root, { id });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('evicts idle models after the TTL, never the default or one in use, and not before min residency', async () => {
    let now = 1_000_000;
    const mm = new ModelManager({
      voicepacksDir: root,
      defaultModel: 'en_US-ttl-a',
      preload: [],
      ttlSeconds: 10,
      minResidencySeconds: 5,
      maxLoaded: 3,
      logger: createLogger('ttl-test', 'silent'),
      now: () => now,
    });
    try {
      await mm.start();
      await mm.load('en_US-ttl-b');
      await mm.load('en_US-ttl-c');
      const lease = await mm.acquire('en_US-ttl-c');
      expect(mm.residentModels()).toEqual(['en_US-ttl-a', 'en_US-ttl-b', 'en_US-ttl-c']);

      now += 9_999; // just under the TTL
      expect(await mm.evictIdle()).toEqual([]);
      now += 1; // exactly the TTL
      expect(await mm.evictIdle()).toEqual(['en_US-ttl-b']);
      expect(mm.residentModels()).toEqual(['en_US-ttl-a', 'en_US-ttl-c']);

      now += 3_600_000; // an hour: the default and the model in use stay
      expect(await mm.evictIdle()).toEqual([]);
      expect(mm.residentModels()).toEqual(['en_US-ttl-a', 'en_US-ttl-c']);

      lease.release(); // idle from now: the TTL counts from the last use, not the load
      now += 9_000;
      expect(await mm.evictIdle()).toEqual([]);
      now += 1_000;
      expect(await mm.evictIdle()).toEqual(['en_US-ttl-c']);
      expect(mm.residentModels()).toEqual(['en_US-ttl-a']);

      // Min residency: a freshly loaded model is not evicted even under pressure.
      await mm.load('en_US-ttl-b');
      now += 4_999;
      expect(await mm.evictIdle(true)).toEqual([]);
      now += 1;
      expect(await mm.evictIdle(true)).toEqual(['en_US-ttl-b']);
      expect(mm.list().find((m) => m.modelId === 'en_US-ttl-a')).toMatchObject({ loaded: true, isDefault: true });
    } finally {
      await mm.stop();
    }
  });
});

// =============================================================================================
describe('Redis discovery and graceful shutdown', () => {
  const VOICE = 'en_US-test-disco';
  let root: string;
  let redis: RedisServer;
  let reader: Redis;
  const harnesses: WorkerHarness[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'tts-grpc-disco-'));
    writeTestVoice(root, { id: VOICE });
    redis = await startRedisServer();
    reader = new Redis(redis.url);
  });
  afterAll(async () => {
    await Promise.all(harnesses.map((x) => x.stop()));
    reader?.disconnect();
    await redis?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const start = async (name: string) => {
    const x = await startTestWorker({ voicepacksDir: root, defaultModel: VOICE, redisUrl: redis.url, name });
    harnesses.push(x);
    return x;
  };

  it('publishes worker:<name> with its gRPC address, resident models and metrics, and removes it on shutdown', async () => {
    const name = `disco-${process.pid}`;
    const x = await start(name);
    const raw = await waitFor(() => reader.get(`worker:${name}`), `worker:${name}`);
    const record = JSON.parse(raw) as WorkerRecord;
    expect(record.name).toBe(name);
    expect(record.addr).toBe(`grpc://127.0.0.1:${x.worker.grpcPort}`);
    expect(record.resident_models).toContain(VOICE);
    expect(record.default_model).toBe(VOICE);
    expect(record.metrics).toMatchObject({ active_sessions: 0 });
    expect(record.metrics).toHaveProperty('rtf');
    expect(record.capabilities).toMatchObject({ streaming: true, languages: ['en_US'], cpu_ok: true, max_concurrent_sessions: 8 });
    const ttl = await reader.ttl(`worker:${name}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
    // The advertised address really serves TTSService.
    expect((await rpc(x.client()).getCapabilities()).name).toBe(name);

    await x.worker.shutdown();
    expect(await reader.exists(`worker:${name}`)).toBe(0);
  });

  it('graceful shutdown ends an in-flight Synthesize with an is_final frame, not an error', async () => {
    const name = `disco-shutdown-${process.pid}`;
    const x = await start(name);
    const client = x.client();
    const api = rpc(client);
    const { sessionId } = await api.startSession({});
    const call = startSynthesis(client, sessionId, 'This synthesis is cut short by the worker shutting down. '.repeat(20));
    await call.waitForFrames(1);
    // Held paused, so it is certainly still in flight when the shutdown starts.
    await api.control(sessionId, Command.PAUSE);
    expect(x.worker.sessions.get(sessionId).active?.stream.paused).toBe(true);

    await withDeadline(x.worker.shutdown('test'), 10_000, 'the shutdown');
    const frames = await withDeadline(call.done, 10_000, 'the in-flight synthesis to end');
    expect(call.error).toBeUndefined();
    expect(frameProblems(frames, sessionId)).toEqual([]);
    expect(frames.at(-1)!.isFinal).toBe(true);
    expect(frames.at(-1)!.stats?.stopped).toBe(true);
    expect(await reader.exists(`worker:${name}`)).toBe(0);
  });

  it('graceful shutdown completes while a client holds a Synthesize stream that has not sent its final chunk', async () => {
    const x = await start(`disco-open-${process.pid}`);
    const client = x.client();
    const { sessionId } = await rpc(client).startSession({});
    const call = startSynthesis(client, sessionId, { text: 'Still typing', markFinal: false, halfClose: false });
    await rpc(client).getCapabilities(); // the chunk has reached the worker
    try {
      await withDeadline(x.worker.shutdown('test'), 5_000, 'the shutdown');
      // The open stream is told the worker went away rather than left hanging.
      await withDeadline(call.done.then(() => undefined, () => undefined), 5_000, 'the open stream to be closed');
    } finally {
      call.call.cancel(); // lets a stuck shutdown finish so the file's cleanup can run
    }
  });
});
