import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, type AudioFrame } from '../../workers/tts/engine/audio-frame.js';
import type { ChunkOutput, PiperModel } from '../../workers/tts/engine/piper-model.js';
import { leadingSilence } from '../../workers/tts/engine/silence.js';
import { SynthesisStream } from '../../workers/tts/engine/synthesis-stream.js';

/**
 * SynthesisStream against a scripted model whose inference settles in microtasks (or when the
 * test says so), so every interleaving here is deterministic: after a few setImmediate turns
 * nothing is left to run.
 */

const RATE = 16_000;
/** 20 ids -> 20 x 256 samples at 16 kHz -> 15360 at 48 kHz = exactly 16 frames (the model delivers 48 kHz). */
const CHUNK = { ids: Array.from({ length: 20 }, () => 7) };
const FRAMES_PER_CHUNK = (20 * 256 * 3) / FRAME_SAMPLES;

interface ScriptedModel {
  model: PiperModel;
  calls: () => number;
  /** The shaping asked for with each inference, and the streams closed. */
  outputs: (ChunkOutput | undefined)[];
  /** The deadline (performance.now() time) each inference was queued with. */
  priorities: number[];
  closed: number[];
}

function scriptedModel(infer: (call: number, ids: readonly number[]) => Promise<Float32Array>): ScriptedModel {
  let calls = 0;
  let streams = 0;
  const outputs: (ChunkOutput | undefined)[] = [];
  const priorities: number[] = [];
  const closed: number[] = [];
  const model = {
    sampleRate: RATE,
    openStream: () => (streams += 1),
    closeStream: (id: number) => closed.push(id),
    inferTimed: (ids: readonly number[], params: { output?: ChunkOutput; priority?: number }) => {
      calls += 1;
      outputs.push(params.output);
      priorities.push(params.priority ?? Number.NaN);
      return infer(calls, ids).then((audio) => ({ audio, ms: 0, modelSamples: ids.length * 256 }));
    },
  } as unknown as PiperModel;
  return { model, calls: () => calls, outputs, priorities, closed };
}

/** What the model delivers for `ids`: 48 kHz audio, 768 samples per id. */
const tone = (ids: readonly number[]) => Float32Array.from({ length: ids.length * 768 }, (_, i) => 0.3 * Math.sin(i / 15));
const instant = () => scriptedModel(async (_call, ids) => tone(ids));

async function settle(turns = 50): Promise<void> {
  for (let i = 0; i < turns; i += 1) await new Promise<void>((r) => setImmediate(r));
}

async function collect(stream: AsyncIterable<AudioFrame>): Promise<AudioFrame[]> {
  const frames: AudioFrame[] = [];
  for await (const f of stream) frames.push(f);
  return frames;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('SynthesisStream', () => {
  it('ends at once with no frames when there is nothing to say', async () => {
    const { model, calls } = instant();
    expect(await collect(new SynthesisStream(model, []))).toEqual([]);
    expect(calls()).toBe(0);
  });

  it('does not hold back the last frame of a chunk while a later chunk is synthesized', async () => {
    const second = deferred<Float32Array>();
    const { model } = scriptedModel((call, ids) => (call === 1 ? Promise.resolve(tone(ids)) : second.promise));
    const got: AudioFrame[] = [];
    const done = (async () => {
      for await (const f of new SynthesisStream(model, [CHUNK, CHUNK])) got.push(f);
    })();
    await settle();
    // Every frame of chunk 1 is out, and none of it claims to be final.
    expect(got).toHaveLength(FRAMES_PER_CHUNK);
    expect(got.some((f) => f.final)).toBe(false);
    second.resolve(tone(CHUNK.ids));
    await done;
    expect(got).toHaveLength(2 * FRAMES_PER_CHUNK);
    expect(got.filter((f) => f.final)).toHaveLength(1);
    expect(got.at(-1)?.final).toBe(true);
  });

  it('stops synthesizing ahead once maxBufferedFrames are queued, and catches up as they are taken', async () => {
    const { model, calls } = instant();
    const stream = new SynthesisStream(model, [CHUNK, CHUNK, CHUNK, CHUNK], { maxBufferedFrames: 4 });
    const it = stream[Symbol.asyncIterator]();
    const frames: AudioFrame[] = [];
    const take = async () => {
      const r = await it.next();
      if (!r.done) frames.push(r.value);
      return r;
    };
    await take();
    await settle();
    // Chunk 2 went to the model as the look-ahead while chunk 1 ran; chunk 1's 16 frames exceed
    // the bound, so nothing after that yet.
    expect(calls()).toBe(2);
    // 16 frames are ready after one chunk; 1 taken.
    expect(stream.buffered).toBe(15);
    // Taking frames wakes the producer only once at most 4 are left (after 11 more takes).
    for (let k = 0; k < 10; k += 1) await take();
    await settle();
    expect(calls()).toBe(2);
    await take();
    await settle();
    expect(calls()).toBe(3);
    expect(stream.buffered).toBe(4 + FRAMES_PER_CHUNK);
    while (!(await take()).done);
    expect(calls()).toBe(4);
    expect(frames).toHaveLength(4 * FRAMES_PER_CHUNK);
    expect(frames.map((f) => f.sequence)).toEqual(frames.map((_, i) => i + 1));
  });

  it('abandons the rest when stopped during an inference', async () => {
    const gate = deferred<void>();
    const { model, calls } = scriptedModel(async (call, ids) => {
      if (call === 2) await gate.promise;
      return tone(ids);
    });
    const stream = new SynthesisStream(model, [CHUNK, CHUNK, CHUNK]);
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    await settle();
    expect(calls()).toBe(3); // the second inference in flight, the third waiting as look-ahead
    stream.stop();
    gate.resolve();
    await settle();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(calls()).toBe(3);
    expect(stream.buffered).toBe(0);
  });

  it('delivers the frames made before a model failure, then rejects with the error', async () => {
    const failure = new Error('inference failed');
    const { model } = scriptedModel(async (call, ids) => {
      if (call === 2) throw failure;
      return tone(ids);
    });
    const stream = new SynthesisStream(model, [CHUNK, CHUNK]);
    const frames: AudioFrame[] = [];
    await expect(
      (async () => {
        for await (const f of stream) frames.push(f);
      })(),
    ).rejects.toBe(failure);
    expect(frames.length).toBeGreaterThanOrEqual(FRAMES_PER_CHUNK - 1);
    expect(frames.map((f) => f.sequence)).toEqual(frames.map((_, i) => i + 1));
  });

  // A consumer such as the gRPC service must not report a finished utterance and then an error.
  it('flags no frame final when the synthesis fails', async () => {
    const { model } = scriptedModel(async (call, ids) => {
      if (call === 2) throw new Error('inference failed');
      return tone(ids);
    });
    const frames: AudioFrame[] = [];
    try {
      for await (const f of new SynthesisStream(model, [CHUNK, CHUNK])) frames.push(f);
    } catch {
      // expected
    }
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.filter((f) => f.final)).toEqual([]);
  });

  // The consumer holds the last queued frame back while the producer runs, so a bound below 2
  // could deadlock; the stream raises it to 2.
  it.each([0, 1])('completes with maxBufferedFrames %i', async (maxBufferedFrames) => {
    const { model } = instant();
    const stream = new SynthesisStream(model, [CHUNK, CHUNK, CHUNK], { maxBufferedFrames });
    let done = false;
    let frames = 0;
    const consumer = (async () => {
      for await (const _ of stream) frames += 1;
      done = true;
    })();
    try {
      await settle(200); // with this model, all work is done well within these turns
      expect({ done, frames }).toEqual({ done: true, frames: 3 * FRAMES_PER_CHUNK });
    } finally {
      stream.stop();
      await consumer;
    }
  });

  it('completes with maxBufferedFrames 2, the smallest bound that works', async () => {
    const { model } = instant();
    const frames = await collect(new SynthesisStream(model, [CHUNK, CHUNK, CHUNK], { maxBufferedFrames: 2 }));
    expect(frames).toHaveLength(3 * FRAMES_PER_CHUNK);
    expect(frames.filter((f) => f.final)).toHaveLength(1);
  });

  it('asks the model for 48 kHz chunks of one stream in order, trimming only the first, and closes the stream', async () => {
    const scripted = scriptedModel(async (_call, ids) => tone(ids));
    await collect(new SynthesisStream(scripted.model, [CHUNK, CHUNK, CHUNK], { trimLeadingSilenceDb: -60 }));
    expect(scripted.outputs).toEqual([
      { stream: 1, rate: 48_000, first: true, last: false, trimDb: -60 },
      { stream: 1, rate: 48_000, first: false, last: false, trimDb: -60 },
      { stream: 1, rate: 48_000, first: false, last: true, trimDb: -60 },
    ]);
    expect(scripted.closed).toEqual([1]);
    const untrimmed = scriptedModel(async (_call, ids) => tone(ids));
    await collect(new SynthesisStream(untrimmed.model, [CHUNK]));
    expect(untrimmed.outputs).toEqual([{ stream: 1, rate: 48_000, first: true, last: true }]);
  });

  it('closes the stream when stopped before its last chunk (the thread drops its resampler)', async () => {
    const scripted = scriptedModel(async (_call, ids) => tone(ids));
    const stream = new SynthesisStream(scripted.model, [CHUNK, CHUNK, CHUNK]);
    for await (const _ of stream) {
      stream.stop();
    }
    await settle();
    expect(scripted.closed).toEqual([1]);
  });
});

describe('SynthesisStream scheduling', () => {
  it('queues each chunk by when its audio is needed: from the start, or startAfterMs later', async () => {
    const now = scriptedModel(async (_call, ids) => tone(ids));
    const t0 = performance.now();
    await collect(new SynthesisStream(now.model, [CHUNK, CHUNK]));
    const later = scriptedModel(async (_call, ids) => tone(ids));
    const t1 = performance.now();
    await collect(new SynthesisStream(later.model, [CHUNK, CHUNK], { startAfterMs: 5_000 }));
    const t2 = performance.now();
    // A new reply's first chunk is due at once; one heard 5 s from now is due then.
    expect(now.priorities[0]).toBeGreaterThanOrEqual(t0);
    expect(now.priorities[0]).toBeLessThan(t1);
    expect(later.priorities[0]).toBeGreaterThanOrEqual(t1 + 5_000);
    expect(later.priorities[0]).toBeLessThan(t2 + 5_000);
    // The next chunk is due when the audio before it has played, counted from then.
    expect(later.priorities[1]! - later.priorities[0]!).toBeGreaterThanOrEqual(FRAMES_PER_CHUNK * 20 - 1);
    expect(later.priorities[1]).toBeGreaterThan(now.priorities[1]! + 4_000);
  });
});

describe('leadingSilence', () => {
  const at16k = (quietMs: number, level: number) => {
    const audio = new Float32Array(16_000).fill(0.5);
    audio.fill(level, 0, quietMs * 16);
    return audio;
  };
  it('finds the first sample above the threshold, less the lead-in', () => {
    expect(leadingSilence(at16k(30, 0), 16_000, -60)).toBe(25 * 16);
    expect(leadingSilence(at16k(30, 0.0005), 16_000, -60)).toBe(25 * 16);
  });
  it('keeps audio above the threshold and a start shorter than the lead-in', () => {
    expect(leadingSilence(at16k(30, 0.002), 16_000, -60)).toBe(0);
    expect(leadingSilence(at16k(3, 0), 16_000, -60)).toBe(0);
  });
  it('never trims more than 200 ms, nor all of a silent chunk', () => {
    expect(leadingSilence(at16k(500, 0), 16_000, -60)).toBe(195 * 16);
    expect(leadingSilence(new Float32Array(800), 16_000, -60)).toBeLessThan(800);
  });
});
