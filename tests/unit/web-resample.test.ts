import { describe, expect, it } from 'vitest';
import { Downsampler, floatToS16, s16ToFloat } from '../../clients/web/src/audio/resample.js';

const tone = (freq: number, rate: number, seconds: number, amp = 0.5) =>
  Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));

/** RMS of the middle of a signal (the filter's edges aside). */
function rms(x: Float32Array): number {
  const a = Math.floor(x.length / 4);
  const b = Math.floor((3 * x.length) / 4);
  let s = 0;
  for (let i = a; i < b; i += 1) s += (x[i] as number) ** 2;
  return Math.sqrt(s / (b - a));
}

/** Amplitude of `freq` in `x` (single-bin DFT over the middle half). */
function amplitudeAt(x: Float32Array, freq: number, rate: number): number {
  const a = Math.floor(x.length / 4);
  const b = Math.floor((3 * x.length) / 4);
  let re = 0;
  let im = 0;
  for (let i = a; i < b; i += 1) {
    re += (x[i] as number) * Math.cos((2 * Math.PI * freq * i) / rate);
    im += (x[i] as number) * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (b - a);
}

function run(d: Downsampler, input: Float32Array, block: number): Float32Array {
  const parts: Float32Array[] = [];
  for (let i = 0; i < input.length; i += block) parts.push(d.push(input.subarray(i, i + block)));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('microphone down-sampler (48 kHz → 16 kHz, the page capture worklet)', () => {
  it('keeps a speech-band tone at its level and frequency, and yields a third of the samples', () => {
    const out = run(new Downsampler(48_000), tone(1000, 48_000, 1), 128);
    expect(Math.abs(out.length - 16_000)).toBeLessThanOrEqual(16);
    expect(amplitudeAt(out, 1000, 16_000)).toBeCloseTo(0.5, 1);
    expect(rms(out)).toBeCloseTo(0.5 / Math.SQRT2, 2);
  });

  it('removes what would fold back: a 10 kHz tone is at least 40 dB down', () => {
    const out = run(new Downsampler(48_000), tone(10_000, 48_000, 1), 128);
    expect(rms(out)).toBeLessThan((0.5 / Math.SQRT2) * 0.01);
  });

  it('gives the same output whatever the block size (render quanta of 128 or anything else)', () => {
    const input = tone(440, 44_100, 0.5);
    const a = run(new Downsampler(44_100), input, 128);
    const b = run(new Downsampler(44_100), input, 1000);
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i += 1) expect(b[i]).toBeCloseTo(a[i] as number, 6);
  });

  it('refuses up-sampling or a nonsense rate', () => {
    expect(() => new Downsampler(8000)).toThrow(/cannot resample/);
    expect(() => new Downsampler(0)).toThrow(/cannot resample/);
  });

  it('converts float to s16 with clipping, and back', () => {
    expect([...floatToS16(Float32Array.from([0, 1, -1, 2, -2, 0.5]))]).toEqual([0, 32767, -32768, 32767, -32768, 16384]);
    expect(s16ToFloat(Int16Array.from([-32768, 0, 16384]))[0]).toBe(-1);
    expect(s16ToFloat(Int16Array.from([-32768, 0, 16384]))[2]).toBe(0.5);
  });
});
