import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assign, createActor, sendTo, setup, waitFor } from 'xstate';
import { StreamingVad, type VadEdge, type VadWindow } from '../../actors/vad/detector.js';
import { SileroVad } from '../../actors/vad/silero.js';
import { vadActorLogic, type VadActorEvent, type VadEdgeEvent } from '../../actors/vad/vad-actor.js';
import { concat, msToSamples, RATE, speechKit, toBytes, whiteNoise, type SpeechKit } from '../fixtures/vad-signals.js';

let kit: SpeechKit;
let speech: Int16Array;
/** 1 s silence, speech, 1 s silence: true onset at LEAD ms, end at LEAD + speech. */
let signal: Int16Array;
const LEAD_MS = 1000;
let onsetMs: number;
let endMs: number;

beforeAll(() => {
  kit = speechKit();
  speech = kit.speak('Could you please tell me the weather for tomorrow morning');
  signal = concat(msToSamples(LEAD_MS), speech, msToSamples(1000));
  onsetMs = LEAD_MS;
  endMs = LEAD_MS + (speech.length * 1000) / RATE;
});

afterAll(() => kit?.dispose());

/** Pushes `pcm` in chunks of `chunkSamples` (as bytes unless `asInt16`) and collects every edge. */
async function run(
  vad: StreamingVad,
  pcm: Int16Array,
  chunkSamples: number,
  opts: { asInt16?: boolean; chunkBytes?: number } = {},
): Promise<VadEdge[]> {
  const edges: VadEdge[] = [];
  if (opts.chunkBytes) {
    const bytes = toBytes(pcm);
    for (let i = 0; i < bytes.length; i += opts.chunkBytes) edges.push(...(await vad.push(bytes.subarray(i, i + opts.chunkBytes))));
  } else {
    for (let i = 0; i < pcm.length; i += chunkSamples) {
      const chunk = pcm.subarray(i, i + chunkSamples);
      edges.push(...(await vad.push(opts.asInt16 ? chunk : toBytes(chunk))));
    }
  }
  return edges;
}

const shape = (edges: VadEdge[]) =>
  edges.map((e) => (e.type === 'speech_start' ? { type: e.type, at: e.at, onsetAt: e.onsetAt } : { type: e.type, at: e.at, speechMs: e.speechMs }));

describe('SileroVad', () => {
  it('loads the packaged v5 model, detects its inputs and gives probabilities in [0, 1]', async () => {
    const model = await SileroVad.load();
    expect(model.version).toBe('v5');
    expect(model.path).toMatch(/@ricky0123[/\\]vad-web[/\\]dist[/\\]silero_vad_v5\.onnx$/);
    const p = await model.probability(new Float32Array(512));
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(0.1);
    await expect(model.probability(new Float32Array(480))).rejects.toThrow(RangeError);
  });

  it('also supports the legacy v4 model (h/c state)', async () => {
    const model = await SileroVad.load({ model: 'v4' });
    expect(model.version).toBe('v4');
    const vad = new StreamingVad(model);
    const edges = await run(vad, signal, 512, { asInt16: true });
    expect(edges.map((e) => e.type)).toEqual(['speech_start', 'speech_end']);
  });
});

describe('StreamingVad', () => {
  it('digital silence gives no edges', async () => {
    const vad = await StreamingVad.create();
    expect(await run(vad, new Int16Array(msToSamples(3000)), 512)).toEqual([]);
    expect(vad.inSpeech).toBe(false);
  });

  it('low-level white noise (-40 dBFS peak) gives no edges', async () => {
    const vad = await StreamingVad.create();
    expect(await run(vad, whiteNoise(msToSamples(3000), 0.01), 320)).toEqual([]);
  });

  it('speech between 1 s of silence: exactly one start and one end, decided in the debounce windows', async () => {
    const vad = await StreamingVad.create();
    const edges = await run(vad, signal, 512, { asInt16: true });
    expect(edges.map((e) => e.type)).toEqual(['speech_start', 'speech_end']);
    const [start, end] = edges as [VadEdge & { type: 'speech_start' }, VadEdge & { type: 'speech_end' }];
    const startDelay = start.at - onsetMs;
    const endDelay = end.at - endMs;
    expect(startDelay).toBeGreaterThanOrEqual(100);
    expect(startDelay).toBeLessThanOrEqual(250);
    expect(endDelay).toBeGreaterThanOrEqual(300);
    expect(endDelay).toBeLessThanOrEqual(500);
    // The onset is the first positive window: within a window or two of the true onset.
    expect(Math.abs(start.onsetAt - onsetMs)).toBeLessThanOrEqual(64);
    expect(start.at - start.onsetAt).toBeGreaterThanOrEqual(100);
    expect(end.speechMs).toBeCloseTo(end.at - 320 - start.onsetAt, 6);
    expect(typeof start.decidedAt).toBe('number');
  });

  it('emits the same edges to callbacks and to the async iterator', async () => {
    const vad = await StreamingVad.create();
    const viaCallback: VadEdge[] = [];
    const starts: number[] = [];
    vad.on('edge', (e) => viaCallback.push(e));
    vad.on('speech_start', (e) => starts.push(e.at));
    const collected = (async () => {
      const out: VadEdge[] = [];
      for await (const edge of vad) out.push(edge);
      return out;
    })();
    const returned = await run(vad, signal, 960);
    await vad.close();
    const viaIterator = await collected;
    expect(viaCallback.map((e) => e.type)).toEqual(['speech_start', 'speech_end']);
    expect(viaIterator).toEqual(viaCallback);
    expect(returned).toEqual(viaCallback);
    expect(starts).toEqual([viaCallback[0]?.at]);
  });

  it('close() during speech emits a final speech_end at the end of the stream', async () => {
    const vad = await StreamingVad.create();
    const cut = signal.subarray(0, msToSamples(LEAD_MS + 800));
    const edges = await run(vad, cut, 512);
    expect(edges.map((e) => e.type)).toEqual(['speech_start']);
    const final = await vad.close();
    expect(final.map((e) => e.type)).toEqual(['speech_end']);
    await expect(vad.push(new Int16Array(10))).rejects.toThrow(/closed/);
  });

  it('a 60 ms burst of speech does not trigger (debounce), though the model hears it', async () => {
    // The loudest 60 ms of the utterance.
    const len = msToSamples(60);
    let best = 0;
    let bestEnergy = -1;
    for (let i = 0; i + len <= speech.length; i += 160) {
      let e = 0;
      for (let j = i; j < i + len; j += 1) e += (speech[j] as number) ** 2;
      if (e > bestEnergy) [best, bestEnergy] = [i, e];
    }
    const burst = speech.slice(best, best + len);
    for (const leadMs of [1000, 1010, 1020]) {
      const vad = await StreamingVad.create();
      const windows: VadWindow[] = [];
      vad.on('window', (w) => windows.push(w));
      const edges = await run(vad, concat(msToSamples(leadMs), burst, msToSamples(1000)), 320);
      expect(edges).toEqual([]);
      expect(windows.filter((w) => w.probability >= vad.options.positiveThreshold).length).toBeLessThanOrEqual(3);
    }
    // A white-noise click at full scale does not trigger either.
    const vad = await StreamingVad.create();
    expect(await run(vad, concat(msToSamples(1000), whiteNoise(len, 0.9), msToSamples(1000)), 320)).toEqual([]);
  });

  it('any input frame size gives the same edges as 512-aligned input', async () => {
    const reference = shape(await run(await StreamingVad.create(), signal, 512, { asInt16: true }));
    expect(reference).toHaveLength(2);
    for (const size of [160, 333, 1024, 4000]) {
      expect(shape(await run(await StreamingVad.create(), signal, size)), `${size} samples`).toEqual(reference);
    }
    // Odd byte counts: the stray byte is carried into the next chunk.
    for (const bytes of [1, 999, 1001]) {
      const pcm = bytes === 1 ? signal.subarray(0, msToSamples(LEAD_MS + 600)) : signal;
      const got = shape(await run(await StreamingVad.create(), pcm, 0, { chunkBytes: bytes }));
      const want = bytes === 1 ? reference.slice(0, 1) : reference;
      expect(got, `${bytes}-byte chunks`).toEqual(want);
    }
  });

  it('a lone odd byte is carried without throwing and does not shift later samples', async () => {
    const vad = await StreamingVad.create();
    const bytes = toBytes(signal);
    const edges: VadEdge[] = [];
    edges.push(...(await vad.push(bytes.subarray(0, 3))));
    edges.push(...(await vad.push(bytes.subarray(3, 4))));
    edges.push(...(await vad.push(Buffer.alloc(0))));
    edges.push(...(await vad.push(bytes.subarray(4))));
    const reference = shape(await run(await StreamingVad.create(), signal, 512, { asInt16: true }));
    expect(shape(edges)).toEqual(reference);
  });

  it('48 kHz input through fromRate(48000) gives the same edges within one window', async () => {
    const reference = await run(await StreamingVad.create(), signal, 512, { asInt16: true });
    const at48 = kit.resample(signal, 48_000);
    const vad = await StreamingVad.fromRate(48_000);
    expect(vad.inputRate).toBe(48_000);
    const edges = await run(vad, at48, 960); // 20 ms WebRTC frames
    expect(edges.map((e) => e.type)).toEqual(reference.map((e) => e.type));
    for (const [i, e] of edges.entries()) expect(Math.abs(e.at - (reference[i] as VadEdge).at)).toBeLessThanOrEqual(32);
  });

  it('reset() restarts stream time and detection', async () => {
    const vad = await StreamingVad.create();
    const first = shape(await run(vad, signal, 512));
    const resetDone = vad.reset();
    const second = shape(await run(vad, signal, 512));
    await resetDone;
    expect(second).toEqual(first);
  });
});

function parentMachine(vad?: StreamingVad) {
  return setup({
    types: { context: {} as { got: VadEdgeEvent[] }, events: {} as VadEdgeEvent | VadActorEvent },
    actors: { vad: vadActorLogic },
  }).createMachine({
    context: { got: [] },
    invoke: { id: 'vad', src: 'vad', input: vad ? { vad } : undefined },
    on: {
      AUDIO: { actions: sendTo('vad', ({ event }) => event) },
      'VAD.SPEECH_START': { actions: assign({ got: ({ context, event }) => [...context.got, event] }) },
      'VAD.SPEECH_END': { actions: assign({ got: ({ context, event }) => [...context.got, event] }) },
    },
  });
}

describe('vadActorLogic (XState v5 callback actor)', () => {
  it('turns AUDIO events into VAD.SPEECH_START / VAD.SPEECH_END with only edge fields', async () => {
    const actor = createActor(parentMachine()).start();
    // Sent before the model has loaded: queued, then fed in order. 20 ms frames, as from a client.
    const bytes = toBytes(signal);
    for (let i = 0; i < bytes.length; i += 640) actor.send({ type: 'AUDIO', pcm: bytes.subarray(i, i + 640) });
    const snap = await waitFor(actor, (s) => s.context.got.length >= 2, { timeout: 30_000 });
    const reference = shape(await run(await StreamingVad.create(), signal, 512, { asInt16: true }));
    const [start, end] = snap.context.got;
    expect(Object.keys(start ?? {}).sort()).toEqual(['at', 'onsetAt', 'type']);
    expect(Object.keys(end ?? {}).sort()).toEqual(['at', 'speechMs', 'type']);
    expect(start).toEqual({ type: 'VAD.SPEECH_START', at: reference[0]?.at, onsetAt: (reference[0] as { onsetAt: number }).onsetAt });
    expect(end).toEqual({ type: 'VAD.SPEECH_END', at: reference[1]?.at, speechMs: (reference[1] as { speechMs: number }).speechMs });
    for (const e of snap.context.got) {
      for (const v of Object.values(e)) expect(typeof v === 'string' || typeof v === 'number').toBe(true);
    }
    actor.stop();
  });

  it('with an injected detector: odd-length input does not throw, exactly the two edges come back', async () => {
    const vad = await StreamingVad.create();
    const actor = createActor(parentMachine(vad)).start();
    const bytes = toBytes(signal);
    expect(() => actor.send({ type: 'AUDIO', pcm: bytes.subarray(0, 1) })).not.toThrow();
    for (let i = 1; i < bytes.length; i += 1001) actor.send({ type: 'AUDIO', pcm: bytes.subarray(i, i + 1001) });
    await vad.drain();
    expect(actor.getSnapshot().context.got.map((e) => e.type)).toEqual(['VAD.SPEECH_START', 'VAD.SPEECH_END']);
    actor.stop();
    // The actor does not close a detector it was given.
    await expect(vad.push(new Int16Array(4))).resolves.toEqual([]);
  });
});
