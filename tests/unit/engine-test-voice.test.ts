import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { FRAME_SAMPLES, type AudioFrame } from '../../workers/tts/engine/audio-frame.js';
import { chunkSentences, DEFAULT_CHUNK_POLICY, type ChunkPolicy } from '../../workers/tts/engine/chunker.js';
import { PiperEngine } from '../../workers/tts/engine/engine.js';
import { integratedLoudness } from '../../workers/tts/engine/loudness.js';
import { s16ToFloat } from '../../workers/tts/engine/pcm.js';
import { phonemesToIds } from '../../workers/tts/engine/phoneme-ids.js';
import type { SynthesisStream } from '../../workers/tts/engine/synthesis-stream.js';
import { phonemeIdsForText } from '../../workers/tts/engine/text-to-ids.js';
import { TEST_VOICE_HOP, TEST_VOICE_ID, TEST_VOICE_SAMPLE_RATE, writeTestVoice } from '../../workers/tts/voices/test-voice.js';
import { loadVoicepack, type Voicepack } from '../../workers/tts/voices/voicepack.js';

const TEXT = 'Hello there, this is a streaming test. It has two sentences, and a few clauses; enough for several chunks!';

let voice: Voicepack;
let engine: PiperEngine;
let multiRoot: string;
let multi: PiperEngine;

beforeAll(async () => {
  voice = loadVoicepack(TEST_VOICE_ID, inject('testVoicesDir'));
  engine = await PiperEngine.load(voice);
  multiRoot = mkdtempSync(join(tmpdir(), 'test-voice-2spk-'));
  writeTestVoice(multiRoot, { numSpeakers: 2 });
  multi = await PiperEngine.load(loadVoicepack(TEST_VOICE_ID, multiRoot));
});

afterAll(async () => {
  await engine?.release();
  await multi?.release();
  if (multiRoot) rmSync(multiRoot, { recursive: true, force: true });
});

async function collect(stream: AsyncIterable<AudioFrame>): Promise<AudioFrame[]> {
  const frames: AudioFrame[] = [];
  for await (const f of stream) frames.push(f);
  return frames;
}

/** The valid (unpadded) samples of the frames, in order. */
function pcm(frames: readonly AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.validSamples, 0));
  let offset = 0;
  for (const f of frames) {
    out.set(f.samples.subarray(0, f.validSamples), offset);
    offset += f.validSamples;
  }
  return out;
}

/** -1 when the sample arrays are identical, else the first index where they differ (or the shorter length). */
function firstDifference(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length);
  if (n === a.length && n === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) {
    return -1;
  }
  for (let i = 0; i < n; i += 1) if (a[i] !== b[i]) return i;
  return n;
}

const rms = (x: Int16Array) => Math.sqrt(x.reduce((s, v) => s + (v / 32768) ** 2, 0) / Math.max(1, x.length));
const ticks = async (n: number) => {
  for (let i = 0; i < n; i += 1) await new Promise<void>((r) => setImmediate(r));
};

/**
 * Resolves once `stream` has finished `n` inferences, by awaiting every inference promise the
 * model has returned (recorded by a spy on `infer`) rather than polling the clock. The producer
 * awaited each promise before we did, so by the time we resume it has queued the chunk's frames
 * and started its next inference, if any.
 */
async function inferencesDone(infer: { mock: { results: { value: unknown }[] } }, stream: SynthesisStream, n: number): Promise<void> {
  let seen = -1;
  while (stream.stats.chunks < n) {
    const results = infer.mock.results;
    if (results.length === seen) throw new Error(`synthesis stalled after ${stream.stats.chunks} of ${n} chunks`);
    seen = results.length;
    await Promise.all(results.map((r) => r.value));
    // The producer turns each chunk's audio into frames in slices, one event-loop turn apart,
    // before it asks for the inference after the look-ahead: give it those turns (bounded, not timed).
    for (let k = 0; k < 200 && infer.mock.results.length === seen && stream.stats.chunks < n; k += 1) await ticks(1);
  }
}

/** The chunks the engine cuts, worked out independently from the public text-to-ids pieces. */
function expectedChunkIds(v: Voicepack, text: string, chunking: Partial<ChunkPolicy> = {}): number[][] {
  const sentences = phonemeIdsForText(text, v.config).sentences.map((s) => s.phonemes);
  return chunkSentences(sentences, { ...DEFAULT_CHUNK_POLICY, ...chunking }).map((c) => phonemesToIds(c, v.config.phoneme_id_map).ids);
}

/** A pending promise's state, without awaiting it. */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  return { settled: () => settled, promise: tracked };
}

describe('PiperEngine with the test voice', () => {
  it('streams 960-sample frames numbered 1..n with exactly one final frame, the last', async () => {
    const stream = engine.synthesize(TEXT);
    const frames = await collect(stream);
    expect(frames.length).toBeGreaterThan(10);
    expect(frames.map((f) => f.sequence)).toEqual(frames.map((_, i) => i + 1));
    expect(frames.filter((f) => f.final).map((f) => f.sequence)).toEqual([frames.length]);
    for (const f of frames) {
      expect(f.samples).toHaveLength(FRAME_SAMPLES);
      expect(f.sampleRate).toBe(48_000);
    }
    for (const f of frames.slice(0, -1)) expect(f.validSamples).toBe(FRAME_SAMPLES);
    const last = frames[frames.length - 1] as AudioFrame;
    expect(last.validSamples).toBeGreaterThan(0);
    expect(last.validSamples).toBeLessThanOrEqual(FRAME_SAMPLES);
    expect(last.samples.subarray(last.validSamples).every((v) => v === 0)).toBe(true);
    expect(rms(pcm(frames))).toBeGreaterThan(0.1);
    expect(stream.stats.frames).toBe(frames.length);
    expect(stream.stats.firstFrameAt).toBeGreaterThanOrEqual(stream.stats.startedAt);
  });

  it('outputs exactly the model audio resampled 16 kHz -> 48 kHz (3x)', async () => {
    // The test voice has no duration predictor to cap at chunk joins: every id keeps its length.
    expect(engine.model.capsEdges).toBe(false);
    const chunks = expectedChunkIds(voice, TEXT);
    expect(chunks.length).toBeGreaterThan(2);
    const modelSamples = chunks.reduce((n, ids) => n + ids.length * TEST_VOICE_HOP, 0);
    const stream = engine.synthesize(TEXT);
    const frames = await collect(stream);
    expect(pcm(frames).length).toBe(modelSamples * 3);
    expect(frames).toHaveLength(Math.ceil((modelSamples * 3) / FRAME_SAMPLES));
    expect(stream.stats.chunks).toBe(chunks.length);
    expect(stream.stats.audioMs).toBeCloseTo((modelSamples / TEST_VOICE_SAMPLE_RATE) * 1000, 6);

    const whole = expectedChunkIds(voice, TEXT, { mode: 'sentence' });
    expect(whole).toHaveLength(2);
    const sentenceSamples = whole.reduce((n, ids) => n + ids.length * TEST_VOICE_HOP, 0);
    expect(pcm(await collect(engine.synthesize(TEXT, { chunking: { mode: 'sentence' } }))).length).toBe(sentenceSamples * 3);
    // length_scale 2 doubles every phoneme.
    expect(pcm(await collect(engine.synthesize(TEXT, { lengthScale: 2 }))).length).toBe(modelSamples * 6);
  });

  it('is deterministic across runs', async () => {
    const a = pcm(await collect(engine.synthesize(TEXT)));
    const b = pcm(await collect(engine.synthesize(TEXT)));
    expect(firstDifference(a, b)).toBe(-1);
    const other = pcm(await collect(engine.synthesize('Something else entirely.')));
    expect(firstDifference(a.subarray(0, other.length), other)).not.toBe(-1);
  });

  it('an aborted inference leaves the model queue without running (a stopped stream\'s look-ahead)', async () => {
    const ids = expectedChunkIds(voice, TEXT)[0] as number[];
    const running = engine.model.inferTimed(ids);
    const cancel = new AbortController();
    const waiting = engine.model.inferTimed(ids, { signal: cancel.signal });
    expect(engine.model.pending).toBe(2);
    cancel.abort();
    await expect(waiting).rejects.toThrow('inference cancelled');
    expect(engine.model.pending).toBe(1);
    expect((await running).audio.length).toBeGreaterThan(0);
    expect(engine.model.pending).toBe(0);
  });

  it('yields nothing while paused, and continues on resume', async () => {
    const infer = vi.spyOn(engine.model, 'inferTimed');
    try {
      const stream = engine.synthesize(TEXT);
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      stream.pause();
      expect(stream.paused).toBe(true);
      const second = track(it.next());
      // Other async work runs to completion meanwhile: a whole second synthesis, then the paused
      // stream's own producer running every remaining chunk.
      const otherFrames = await collect(engine.synthesize('Meanwhile, another utterance.'));
      expect(otherFrames.length).toBeGreaterThan(0);
      const total = expectedChunkIds(voice, TEXT).length;
      await inferencesDone(infer, stream, total);
      expect(stream.stats.chunks).toBe(total);
      await ticks(5);
      expect(second.settled()).toBe(false);
      expect(stream.buffered).toBeGreaterThan(1);
      stream.resume();
      const r = await second.promise;
      expect(second.settled()).toBe(true);
      expect(r.done).toBe(false);
      expect(r.value?.sequence).toBe(2);
    } finally {
      infer.mockRestore();
    }
  });

  it('holds the first frame when paused before any output', async () => {
    const infer = vi.spyOn(engine.model, 'inferTimed');
    try {
      const stream = engine.synthesize('Paused from the start, then resumed.');
      stream.pause();
      const it = stream[Symbol.asyncIterator]();
      const first = track(it.next());
      await inferencesDone(infer, stream, expectedChunkIds(voice, 'Paused from the start, then resumed.').length);
      expect(stream.buffered).toBeGreaterThan(0);
      await ticks(5);
      expect(first.settled()).toBe(false);
      stream.resume();
      expect((await first.promise).value?.sequence).toBe(1);
    } finally {
      infer.mockRestore();
    }
  });

  it('gives sample-identical audio when paused and resumed mid-stream', async () => {
    const reference = await collect(engine.synthesize(TEXT));
    const stream = engine.synthesize(TEXT);
    const frames: AudioFrame[] = [];
    const pauseAt = new Set([1, 4, 9]);
    const it = stream[Symbol.asyncIterator]();
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      frames.push(r.value);
      if (pauseAt.has(r.value.sequence)) {
        stream.pause();
        const held = track(it.next());
        await ticks(3);
        expect(held.settled()).toBe(false);
        stream.resume();
        const next = await held.promise;
        if (next.done) break;
        frames.push(next.value);
      }
    }
    expect(frames.map((f) => f.sequence)).toEqual(reference.map((f) => f.sequence));
    expect(frames.map((f) => f.final)).toEqual(reference.map((f) => f.final));
    expect(firstDifference(pcm(frames), pcm(reference))).toBe(-1);
  });

  it('ends iteration on stop() with no further frames', async () => {
    const stream = engine.synthesize(TEXT);
    const it = stream[Symbol.asyncIterator]();
    const got = [await it.next(), await it.next()];
    expect(got.every((r) => !r.done)).toBe(true);
    stream.stop();
    expect(stream.stopped).toBe(true);
    expect(stream.buffered).toBe(0);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('resolves a pending next() as done when stopped, before or while paused', async () => {
    const early = engine.synthesize(TEXT);
    const earlyIt = early[Symbol.asyncIterator]();
    const pending = earlyIt.next(); // nothing synthesized yet
    early.stop();
    expect(await pending).toEqual({ done: true, value: undefined });

    const paused = engine.synthesize(TEXT);
    const pausedIt = paused[Symbol.asyncIterator]();
    expect((await pausedIt.next()).done).toBe(false);
    paused.pause();
    const held = pausedIt.next();
    await ticks(3);
    paused.stop();
    expect(await held).toEqual({ done: true, value: undefined });
  });

  it('stops a for-await loop mid-stream after the current frame', async () => {
    const stream = engine.synthesize(TEXT);
    const frames: AudioFrame[] = [];
    for await (const f of stream) {
      frames.push(f);
      if (f.sequence === 3) stream.stop();
    }
    expect(frames.map((f) => f.sequence)).toEqual([1, 2, 3]);
    expect(frames.some((f) => f.final)).toBe(false);
  });

  it('selects speakers of a multi-speaker voice and rejects unknown ones', async () => {
    const s0 = pcm(await collect(multi.synthesize(TEXT, { speaker: 0 })));
    const s1 = pcm(await collect(multi.synthesize(TEXT, { speaker: 1 })));
    expect(s1.length).toBe(s0.length);
    expect(firstDifference(s0, s1)).not.toBe(-1);
    expect(firstDifference(pcm(await collect(multi.synthesize(TEXT, { speaker: 'beta' }))), s1)).toBe(-1);
    expect(firstDifference(pcm(await collect(multi.synthesize(TEXT))), s0)).toBe(-1);
    expect(() => multi.synthesize(TEXT, { speaker: 2 })).toThrow(RangeError);
    expect(() => multi.synthesize(TEXT, { speaker: -1 })).toThrow(RangeError);
    expect(() => multi.synthesize(TEXT, { speaker: 'nobody' })).toThrow(RangeError);
  });

  it('moves the level toward loudnessTarget', async () => {
    const text = 'One sentence, measured whole.';
    const lufs = async (loudnessTarget?: number) =>
      integratedLoudness(s16ToFloat(pcm(await collect(engine.synthesize(text, { chunking: { mode: 'sentence' }, loudnessTarget })))));
    const natural = await lufs();
    expect(Number.isFinite(natural)).toBe(true);
    for (const target of [natural - 12, natural - 5, natural + 4]) {
      const got = await lufs(target);
      expect(Math.abs(got - target), `target ${target}`).toBeLessThan(0.5);
    }
    // In stream mode the gain comes from the first chunk, so it lands near, not on, the target.
    const streamed = integratedLoudness(s16ToFloat(pcm(await collect(engine.synthesize(TEXT, { loudnessTarget: natural - 10 })))));
    expect(Math.abs(streamed - (natural - 10))).toBeLessThan(Math.abs(natural - (natural - 10)) / 2);
  });

  it('reports phonemes missing from the voice and still speaks the rest', async () => {
    const { ɪ: _dropped, ...idMap } = voice.config.phoneme_id_map;
    const lacking: Voicepack = { ...voice, config: { ...voice.config, phoneme_id_map: idMap } };
    const onMissingPhonemes = vi.fn();
    const partial = await PiperEngine.load(lacking, { onMissingPhonemes });
    try {
      const text = 'This is it.';
      const frames = await collect(partial.synthesize(text));
      expect(onMissingPhonemes).toHaveBeenCalledTimes(1);
      expect(onMissingPhonemes).toHaveBeenCalledWith(['ɪ', 'ɪ', 'ɪ'], text);
      // Each dropped phoneme takes its id and the pad after it: 2 ids x 256 samples x 3 (to 48 kHz).
      const full = pcm(await collect(engine.synthesize(text)));
      expect(pcm(frames).length).toBe(full.length - 3 * 2 * TEST_VOICE_HOP * 3);
      await collect(partial.synthesize('Hello.'));
      expect(onMissingPhonemes).toHaveBeenCalledTimes(1);
    } finally {
      await partial.release();
    }
  });

  it('warns on the console about missing phonemes when no callback is given', async () => {
    const { ɪ: _dropped, ...idMap } = voice.config.phoneme_id_map;
    const partial = await PiperEngine.load({ ...voice, config: { ...voice.config, phoneme_id_map: idMap } });
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await collect(partial.synthesize('This is it.'));
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('ɪ');
    } finally {
      warn.mockRestore();
      await partial.release();
    }
  });

  it('bounds buffering with maxBufferedFrames yet delivers everything', async () => {
    const reference = pcm(await collect(engine.synthesize(TEXT)));
    const infer = vi.spyOn(engine.model, 'inferTimed');
    try {
      const stream: SynthesisStream = engine.synthesize(TEXT, { maxBufferedFrames: 2 });
      const it = stream[Symbol.asyncIterator]();
      const frames: AudioFrame[] = [];
      const first = await it.next();
      if (!first.done) frames.push(first.value);
      await inferencesDone(infer, stream, 1);
      await ticks(5);
      // The first chunk left more than 2 frames queued: only its look-ahead (the second chunk)
      // went to the model, nothing after it.
      expect(stream.buffered).toBeGreaterThan(2);
      expect(infer).toHaveBeenCalledTimes(2);
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        frames.push(r.value);
      }
      expect(infer).toHaveBeenCalledTimes(expectedChunkIds(voice, TEXT).length);
      expect(firstDifference(pcm(frames), reference)).toBe(-1);
    } finally {
      infer.mockRestore();
    }
  });
});
