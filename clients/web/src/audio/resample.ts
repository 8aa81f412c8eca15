/**
 * Streaming down-sampler for the microphone: any input rate (the AudioContext's, 48 kHz here)
 * to 16 kHz for the orchestrator's VAD. Windowed-sinc (Blackman, 96 taps at 48 kHz) low-pass at
 * 0.45 × the output rate evaluated at each output instant, so speech keeps its band and nothing
 * above 8 kHz folds back. The kernel is tabulated once (256 steps per input sample, linear
 * interpolation between them), so the render thread does no trigonometry per sample. Pure: runs
 * in the AudioWorklet and in unit tests alike.
 */
const TABLE_STEPS = 256;

export class Downsampler {
  private readonly step: number;
  private readonly cutoff: number;
  private readonly half: number;
  private readonly table: Float32Array;
  private buf: Float32Array;
  private len = 0;
  /** Position of the next output sample, in input samples from the start of `buf`. */
  private pos: number;

  constructor(
    readonly inRate: number,
    readonly outRate = 16_000,
    halfWidth = 48,
  ) {
    if (!(inRate > 0) || !(outRate > 0) || outRate > inRate) throw new Error(`cannot resample ${inRate} Hz to ${outRate} Hz`);
    this.step = inRate / outRate;
    this.cutoff = (2 * 0.45 * outRate) / inRate;
    this.half = halfWidth;
    this.table = new Float32Array(2 * halfWidth * TABLE_STEPS + 2);
    for (let k = 0; k < this.table.length; k += 1) this.table[k] = this.kernelExact(k / TABLE_STEPS - halfWidth);
    this.buf = new Float32Array(4096);
    // The first output sample sits at input sample 0; the samples before it are silence.
    this.len = halfWidth;
    this.pos = halfWidth;
  }

  private kernel(u: number): number {
    const x = (u + this.half) * TABLE_STEPS;
    const k = Math.floor(x);
    if (k < 0 || k >= this.table.length - 1) return 0;
    const f = x - k;
    return (this.table[k] as number) * (1 - f) + (this.table[k + 1] as number) * f;
  }

  private kernelExact(u: number): number {
    const a = Math.abs(u);
    if (a >= this.half) return 0;
    const x = this.cutoff * u;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const w = 0.42 + 0.5 * Math.cos((Math.PI * u) / this.half) + 0.08 * Math.cos((2 * Math.PI * u) / this.half);
    return this.cutoff * sinc * w;
  }

  /** Feeds input samples; returns the output samples now complete (float, −1..1). */
  push(input: Float32Array): Float32Array {
    if (this.len + input.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    const out: number[] = [];
    while (Math.floor(this.pos) + this.half < this.len) {
      const centre = Math.floor(this.pos);
      let acc = 0;
      for (let j = centre - this.half + 1; j <= centre + this.half; j += 1) acc += (this.buf[j] ?? 0) * this.kernel(this.pos - j);
      out.push(acc);
      this.pos += this.step;
    }
    // Keep only the history the next output still needs.
    const keepFrom = Math.max(0, Math.floor(this.pos) - this.half);
    if (keepFrom > 0) {
      this.buf.copyWithin(0, keepFrom, this.len);
      this.len -= keepFrom;
      this.pos -= keepFrom;
    }
    return Float32Array.from(out);
  }
}

/** Float samples to s16le PCM (clipped). */
export function floatToS16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i += 1) {
    const s = Math.max(-1, Math.min(1, samples[i] as number));
    out[i] = Math.round(s < 0 ? s * 32768 : s * 32767);
  }
  return out;
}

/** s16le PCM to float samples. */
export function s16ToFloat(pcm: Int16Array): Float32Array {
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i += 1) out[i] = (pcm[i] as number) / 32768;
  return out;
}
