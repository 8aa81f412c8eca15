import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { describe, expect, it } from 'vitest';
import { FRAME_BYTES, FRAME_SAMPLES, frameBytes } from '../../workers/tts/engine/audio-frame.js';
import { Framer } from '../../workers/tts/engine/framer.js';
import { gainToTarget, integratedLoudness } from '../../workers/tts/engine/loudness.js';
import { floatToS16, s16ToFloat } from '../../workers/tts/engine/pcm.js';
import { StreamResampler } from '../../workers/tts/engine/resampler.js';

// CommonJS package: Node's ESM loader only exposes its default export.
const { create, ConverterType } = libsamplerate;

const ramp = (n: number, start = 1) => Int16Array.from({ length: n }, (_, i) => (start + i) % 30000);
const sine = (hz: number, rate: number, n: number, amplitude = 0.5) =>
  Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / rate));

function rms(x: ArrayLike<number>, from = 0, to = x.length): number {
  let sum = 0;
  for (let i = from; i < to; i += 1) sum += (x[i] as number) ** 2;
  return Math.sqrt(sum / (to - from));
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function resample(from: number, to: number, input: Float32Array): Float32Array {
  const r = new StreamResampler(from, to);
  return concat([r.push(input), r.finish()]);
}

/** Gain in dB of a steady tone through the resampler, measured away from the edges. */
function toneGainDb(hz: number, from: number, to: number): number {
  const amplitude = 0.5;
  const out = resample(from, to, sine(hz, from, from, amplitude));
  const edge = Math.round(to / 20);
  return 20 * Math.log10(rms(out, edge, out.length - edge) / (amplitude / Math.SQRT2));
}

describe('Framer', () => {
  it('cuts 960-sample frames and zero-pads the remainder on flush', () => {
    const framer = new Framer();
    const input = ramp(2000);
    const frames = framer.push(input);
    expect(frames).toHaveLength(2);
    for (const [k, f] of frames.entries()) {
      expect(f.samples).toHaveLength(FRAME_SAMPLES);
      expect(f.validSamples).toBe(FRAME_SAMPLES);
      expect(f.samples).toEqual(input.subarray(k * 960, (k + 1) * 960));
    }
    const last = framer.flush();
    expect(last?.validSamples).toBe(80);
    expect(last?.samples).toHaveLength(FRAME_SAMPLES);
    expect(last?.samples.subarray(0, 80)).toEqual(input.subarray(1920));
    expect(last?.samples.subarray(80).every((v) => v === 0)).toBe(true);
    expect(framer.flush()).toBeUndefined();
  });

  it('joins small pushes into frames in order, each frame its own buffer', () => {
    const framer = new Framer();
    const input = ramp(960 * 3 + 5, 100);
    const frames = [];
    let offset = 0;
    for (const size of [1, 500, 459, 0, 961, 7, 957]) {
      frames.push(...framer.push(input.subarray(offset, offset + size)));
      offset += size;
    }
    expect(offset).toBe(input.length);
    expect(frames).toHaveLength(3);
    expect(frames.flatMap((f) => [...f.samples])).toEqual([...input.subarray(0, 2880)]);
    expect(new Set(frames.map((f) => f.samples.buffer)).size).toBe(3);
    expect(framer.flush()?.validSamples).toBe(5);
    // A flushed framer starts a fresh frame.
    expect(framer.push(ramp(960))).toHaveLength(1);
  });

  it('exposes a frame as 1920 little-endian bytes', () => {
    const samples = Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => i - 480);
    const bytes = frameBytes({ samples, sampleRate: 48_000, sequence: 1, validSamples: FRAME_SAMPLES, final: true, textDone: 0 });
    expect(bytes).toHaveLength(FRAME_BYTES);
    expect(bytes.readInt16LE(0)).toBe(-480);
    expect(bytes.readInt16LE(2 * 959)).toBe(479);
  });
});

describe('PCM conversion', () => {
  it('clips overs instead of wrapping and rounds to nearest', () => {
    expect([...floatToS16(Float32Array.of(1.5, -1.5, 1, -1, 0, 0.25, -0.25, 1e-5, -1e-5))]).toEqual([
      32767, -32768, 32767, -32767, 0, 8192, -8192, 0, 0,
    ]);
    // 0.1 * 32767 = 3276.7 rounds up, 0.3 * 32767 = 9830.1 rounds down.
    expect([...floatToS16(Float32Array.of(0.1, 0.3, -0.1))]).toEqual([3277, 9830, -3277]);
  });

  it('rounds exactly as Math.round does, halves included', () => {
    // Samples whose scaled value lands on k + 0.5: Math.round takes them up, negatives too (-2.5 -> -2).
    const halves = Float32Array.from([-5, -3, -1, 1, 3, 5, 1001, -1001], (k) => (k + 0.5) / 32767);
    let seed = 1;
    const random = Float32Array.from({ length: 10_000 }, () => {
      seed = (seed * 16_807) % 2_147_483_647;
      return (seed / 2_147_483_647) * 2.4 - 1.2;
    });
    for (const input of [halves, random]) {
      const want = Array.from(input, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32767))) + 0); // + 0: Int16 has no -0
      expect([...floatToS16(input)]).toEqual(want);
    }
  });

  it('applies the gain before clipping', () => {
    expect([...floatToS16(Float32Array.of(0.5, -0.5, 0.25), 2)]).toEqual([32767, -32767, 16384]);
    expect([...floatToS16(Float32Array.of(0.9), 10)]).toEqual([32767]);
    expect([...floatToS16(Float32Array.of(-0.9), 10)]).toEqual([-32768]);
  });

  it('converts s16 back to float in [-1, 1)', () => {
    expect([...s16ToFloat(Int16Array.of(-32768, 0, 16384, 32767))]).toEqual([-1, 0, 0.5, 32767 / 32768]);
  });
});

describe('StreamResampler', () => {
  it('outputs exactly round(n * to / from) samples', () => {
    for (const n of [0, 1, 2, 17, 441, 1000, 22_050, 12_345]) {
      expect(resample(22_050, 48_000, sine(300, 22_050, n)).length, `n=${n}`).toBe(Math.round((n * 48_000) / 22_050));
    }
    for (const n of [0, 1, 5, 16_000, 1234]) {
      expect(resample(16_000, 48_000, sine(300, 16_000, n)).length, `n=${n}`).toBe(n * 3);
    }
    for (const n of [1, 2, 48_000, 1001]) {
      expect(resample(48_000, 16_000, sine(300, 48_000, n)).length, `n=${n}`).toBe(Math.round(n / 3));
    }
  });

  it('gives bit-identical output for chunked and one-shot input', () => {
    const input = concat([sine(440, 22_050, 5000), sine(2500, 22_050, 5000, 0.3)]);
    const oneShot = resample(22_050, 48_000, input);
    const r = new StreamResampler(22_050, 48_000);
    const parts: Float32Array[] = [];
    let offset = 0;
    for (const size of [1, 0, 2, 37, 1024, 5, 3000, 999, 4000, 1, 0, 931]) {
      parts.push(r.push(input.subarray(offset, offset + size)));
      offset += size;
    }
    expect(offset).toBe(input.length);
    parts.push(r.finish());
    const chunked = concat(parts);
    expect(chunked.length).toBe(oneShot.length);
    expect(Buffer.from(chunked.buffer).equals(Buffer.from(oneShot.buffer))).toBe(true);
  });

  it('passes a 440 Hz sine through 22.05 kHz -> 48 kHz with no delay and a tiny error', () => {
    const out = resample(22_050, 48_000, sine(440, 22_050, 22_050));
    const ideal = sine(440, 48_000, out.length);
    const error = out.map((v, i) => v - (ideal[i] as number));
    // Away from the edges (where the filter sees the zero padding) it is the ideal sine.
    expect(rms(error, 200, out.length - 200)).toBeLessThan(1e-4);
    expect(rms(error)).toBeLessThan(1e-3);
  });

  it('passes a 440 Hz sine through 16 kHz -> 48 kHz', () => {
    const out = resample(16_000, 48_000, sine(440, 16_000, 16_000));
    const ideal = sine(440, 48_000, out.length);
    expect(rms(out.map((v, i) => v - (ideal[i] as number)), 200, out.length - 200)).toBeLessThan(1e-4);
  });

  it('passes a 10 kHz tone at 22.05 kHz -> 48 kHz (not rejected)', () => {
    expect(toneGainDb(8000, 22_050, 48_000)).toBeGreaterThan(-0.1);
    expect(toneGainDb(9000, 22_050, 48_000)).toBeGreaterThan(-0.5);
    expect(toneGainDb(10_000, 22_050, 48_000)).toBeGreaterThan(-6);
    expect(toneGainDb(10_000, 22_050, 48_000)).toBeLessThan(0.1);
  });

  it('is flat (within 1 dB) up to 0.88 x Nyquist and -6 dB near its cutoff, 0.94 x Nyquist', () => {
    expect(toneGainDb(0.88 * 11_025, 22_050, 48_000)).toBeGreaterThan(-1);
    expect(toneGainDb(0.88 * 8_000, 16_000, 48_000)).toBeGreaterThan(-1);
    expect(Math.abs(toneGainDb(0.94 * 11_025, 22_050, 48_000) + 6)).toBeLessThan(1.5);
  });

  it('rejects a 12 kHz tone by more than 40 dB going 48 kHz -> 16 kHz', () => {
    expect(toneGainDb(12_000, 48_000, 16_000)).toBeLessThan(-40);
    expect(toneGainDb(9_000, 48_000, 16_000)).toBeLessThan(-40);
    // ...while a tone inside the band survives.
    expect(toneGainDb(3_000, 48_000, 16_000)).toBeGreaterThan(-0.1);
  });

  it('copies input through unchanged when the rates are equal, and rejects bad rates', () => {
    const r = new StreamResampler(48_000, 48_000);
    const x = sine(1000, 48_000, 100);
    const y = r.push(x);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
    expect(r.finish()).toHaveLength(0);
    expect(() => new StreamResampler(0, 48_000)).toThrow(RangeError);
    expect(() => new StreamResampler(22_050.5, 48_000)).toThrow(RangeError);
  });

  it('matches libsamplerate SRC_SINC_BEST_QUALITY on speech-like audio (SNR > 50 dB)', async () => {
    // A 120 Hz voice with harmonics to 9.6 kHz (1/h rolloff) and a 3 Hz syllable envelope.
    const n = 22_050;
    const speech = new Float32Array(n);
    for (let i = 0; i < n; i += 1) {
      const t = i / 22_050;
      let v = 0;
      for (let h = 1; h * 120 <= 9600; h += 1) v += (0.3 / h) * Math.sin(2 * Math.PI * 120 * h * t + h);
      speech[i] = v * (0.6 + 0.4 * Math.sin(2 * Math.PI * 3 * t));
    }
    const ours = resample(22_050, 48_000, speech);
    const src = await create(1, 22_050, 48_000, { converterType: ConverterType.SRC_SINC_BEST_QUALITY });
    let reference: Float32Array;
    try {
      reference = src.simple(speech);
    } finally {
      src.destroy();
    }
    // Align: the lag with the best SNR over the interior (both should have zero delay).
    const edge = 1000;
    const snrAt = (lag: number) => {
      let signal = 0;
      let noise = 0;
      for (let i = edge; i < ours.length - edge; i += 1) {
        const r = reference[i + lag] ?? 0;
        signal += r * r;
        noise += ((ours[i] as number) - r) ** 2;
      }
      return 10 * Math.log10(signal / noise);
    };
    let best = { lag: 0, snr: Number.NEGATIVE_INFINITY };
    for (let lag = -20; lag <= 20; lag += 1) {
      const snr = snrAt(lag);
      if (snr > best.snr) best = { lag, snr };
    }
    expect(Math.abs(reference.length - ours.length)).toBeLessThanOrEqual(2);
    expect(best.lag).toBe(0);
    expect(best.snr).toBeGreaterThan(50);
  });

  it('gives the same samples with the SIMD kernel as with the JavaScript loop, chunk by chunk', () => {
    // Pseudo-random but fixed: speech-like spectrum plus broadband noise, uneven chunk sizes.
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
    for (const [from, to] of [[22_050, 48_000], [16_000, 48_000], [48_000, 16_000], [44_100, 48_000]] as const) {
      const input = Float32Array.from({ length: 2 * from }, (_, i) => 0.4 * Math.sin(i * 0.05) + 0.3 * random());
      const sizes: number[] = [];
      for (let left = input.length; left > 0; ) {
        const size = Math.min(left, Math.floor((random() + 0.5) * 4000));
        sizes.push(size);
        left -= size;
      }
      const run = (simd: boolean, pieces = sizes) => {
        const r = new StreamResampler(from, to, undefined, { simd });
        const parts: Float32Array[] = [];
        let offset = 0;
        for (const size of pieces) {
          parts.push(r.push(input.subarray(offset, offset + size)));
          offset += size;
        }
        parts.push(r.finish());
        return concat(parts);
      };
      const js = run(false);
      // Chunk by chunk, and all at once (many of the kernel's blocks in one push).
      for (const simd of [run(true), run(true, [input.length])]) {
        expect(simd.length).toBe(js.length);
        expect(simd.length).toBe(Math.round((input.length * to) / from));
        let maxDiff = 0;
        for (let i = 0; i < js.length; i += 1) maxDiff = Math.max(maxDiff, Math.abs((js[i] as number) - (simd[i] as number)));
        // Only the order of float32 additions differs (8 lanes vs 4 running sums).
        expect(maxDiff).toBeLessThan(1e-6);
        expect(rms(simd)).toBeGreaterThan(0.1);
      }
    }
  });

  it('ships the SIMD kernel assembled from its source (resampler-kernel.wat)', () => {
    const check = spawnSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-resampler-kernel.mjs', import.meta.url)), '--check'], {
      encoding: 'utf8',
    });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('loudness (BS.1770, 48 kHz)', () => {
  const tone = (amplitude: number, seconds = 3) => sine(1000, 48_000, Math.round(48_000 * seconds), amplitude);

  it('measures a 1 kHz sine at the BS.1770 reference levels', () => {
    // BS.1770: a full-scale 1 kHz sine reads -3.01 LUFS, so amplitude 0.5 (-6.02 dB) reads -9.03.
    expect(integratedLoudness(tone(1))).toBeCloseTo(-3.01, 1);
    expect(Math.abs(integratedLoudness(tone(0.5)) - -9.03)).toBeLessThan(0.2);
    expect(Math.abs(integratedLoudness(tone(0.05)) - -29.03)).toBeLessThan(0.2);
  });

  it('reads silence as -Infinity and measures a clip shorter than one block ungated', () => {
    expect(integratedLoudness(new Float32Array(48_000))).toBe(Number.NEGATIVE_INFINITY);
    expect(integratedLoudness(new Float32Array(0))).toBe(Number.NEGATIVE_INFINITY);
    expect(Math.abs(integratedLoudness(tone(0.5, 0.1)) - -9.03)).toBeLessThan(0.2);
  });

  it('gates out near-silence instead of averaging it in', () => {
    const x = new Float32Array(48_000 * 4);
    x.set(tone(0.5, 1));
    for (let i = 48_000; i < x.length; i += 1) x[i] = 1e-5 * Math.sin(i); // about -100 dBFS
    // Ungated, 1 s of tone in 4 s would read 6 dB lower (-15); the gates keep it near the tone's level.
    const lufs = integratedLoudness(x);
    expect(lufs).toBeGreaterThan(-10.5);
    expect(lufs).toBeLessThan(-8.5);
  });

  it('only measures 48 kHz audio', () => {
    expect(() => integratedLoudness(tone(0.5), 44_100)).toThrow(RangeError);
  });

  it('computes the gain to a target and clamps it to +/- maxDb', () => {
    expect(gainToTarget(-30, -20)).toBeCloseTo(10 ** (10 / 20), 12);
    expect(gainToTarget(-14, -20)).toBeCloseTo(10 ** (-6 / 20), 12);
    expect(gainToTarget(-60, -10)).toBeCloseTo(10, 12); // +50 dB asked, +20 dB given
    expect(gainToTarget(0, -40)).toBeCloseTo(0.1, 12); // -40 dB asked, -20 dB given
    expect(gainToTarget(-60, -10, 6)).toBeCloseTo(10 ** (6 / 20), 12);
    expect(gainToTarget(Number.NEGATIVE_INFINITY, -20)).toBe(1);
  });
});
