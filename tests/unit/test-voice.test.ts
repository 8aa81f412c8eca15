import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_VOICE_HOP, TEST_VOICE_ID, writeTestVoice } from '../../workers/tts/voices/test-voice.js';
import { loadVoicepack, type Voicepack } from '../../workers/tts/voices/voicepack.js';

const MULTI_ID = 'en_US-test-tiny-2spk';

let root: string;
let single: Voicepack;
let multi: Voicepack;
let singleSession: InferenceSession;
let multiSession: InferenceSession;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'test-voice-'));
  writeTestVoice(root);
  writeTestVoice(root, { id: MULTI_ID, numSpeakers: 2 });
  single = loadVoicepack(TEST_VOICE_ID, root);
  multi = loadVoicepack(MULTI_ID, root);
  singleSession = await InferenceSession.create(readFileSync(single.modelPath));
  multiSession = await InferenceSession.create(readFileSync(multi.modelPath));
});

afterAll(async () => {
  await singleSession?.release();
  await multiSession?.release();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** "həloʊ" framed the way Piper frames it: BOS, then each phoneme followed by PAD, then EOS. */
function helloIds(voice: Voicepack): number[] {
  const map = voice.config.phoneme_id_map;
  const id = (p: string): number => {
    const ids = map[p];
    if (!ids) throw new Error(`no id for ${p}`);
    return ids[0]!;
  };
  return [id('^'), ...['h', 'ə', 'l', 'oʊ'].flatMap((p) => [id(p), id('_')]), id('$')];
}

async function synth(
  session: InferenceSession,
  ids: number[],
  scales: { noise?: number; length?: number; noiseW?: number } = {},
  sid?: number,
): Promise<{ dims: readonly number[]; samples: Float32Array }> {
  const feeds: Record<string, Tensor> = {
    input: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    input_lengths: new Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
    scales: new Tensor('float32', Float32Array.of(scales.noise ?? 0.667, scales.length ?? 1, scales.noiseW ?? 0.8), [3]),
  };
  if (sid !== undefined) feeds.sid = new Tensor('int64', BigInt64Array.of(BigInt(sid)), [1]);
  const out = (await session.run(feeds)).output;
  if (!out) throw new Error('model produced no "output"');
  return { dims: out.dims, samples: out.data as Float32Array };
}

const rms = (x: Float32Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
const peak = (x: Float32Array): number => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('test voice', () => {
  it('loads as a valid Piper voicepack', () => {
    expect(single.metadata).toMatchObject({ family: 'piper', sample_rate: 16000, model_id: TEST_VOICE_ID });
    expect(single.metadata.tags).toContain('test');
    expect(single.config.audio.sample_rate).toBe(16000);
    expect(single.config.espeak?.voice).toBe('en-us');
    expect(single.config.phoneme_id_map['aɪ']).toEqual([161]);
    expect(single.config.phoneme_id_map['oʊ']).toEqual([165]);
    expect(Object.keys(single.config.phoneme_id_map)).toHaveLength(166);
    expect(single.config.num_speakers).toBe(1);
    expect(multi.config.num_speakers).toBe(2);
    expect(multi.config.speaker_id_map).toEqual({ alpha: 0, beta: 1 });
  });

  it("exposes exactly Piper's I/O names", () => {
    expect(singleSession.inputNames).toEqual(['input', 'input_lengths', 'scales']);
    expect(multiSession.inputNames).toEqual(['input', 'input_lengths', 'scales', 'sid']);
    expect(singleSession.outputNames).toEqual(['output']);
  });

  it('emits [1,1,1,T] with T = N * floor(256 * length_scale)', async () => {
    const ids = helloIds(single);
    const { dims } = await synth(singleSession, ids);
    expect(dims).toEqual([1, 1, 1, ids.length * TEST_VOICE_HOP]);
    const slow = await synth(singleSession, ids, { length: 2 });
    expect(slow.dims[3]).toBe(2 * ids.length * TEST_VOICE_HOP);
    const fast = await synth(singleSession, ids, { length: 0.7 });
    expect(fast.dims[3]).toBe(ids.length * Math.floor(TEST_VOICE_HOP * 0.7));
  });

  it('is deterministic, audible and never clips', async () => {
    const ids = helloIds(single);
    const a = await synth(singleSession, ids);
    const b = await synth(singleSession, ids);
    expect(a.samples).toEqual(b.samples);
    expect(rms(a.samples)).toBeGreaterThan(0.05);
    expect(peak(a.samples)).toBeGreaterThan(0.3);
    expect(peak(a.samples)).toBeLessThanOrEqual(1);
    const loud = await synth(singleSession, ids, { noise: 10 });
    expect(peak(loud.samples)).toBeLessThanOrEqual(1);
  });

  it('sounds different for another speaker id', async () => {
    const ids = helloIds(multi);
    const alpha = await synth(multiSession, ids, {}, 0);
    const beta = await synth(multiSession, ids, {}, 1);
    expect(beta.dims).toEqual(alpha.dims);
    expect(beta.samples).not.toEqual(alpha.samples);
  });
});
