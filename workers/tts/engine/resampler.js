/**
 * Streaming band-limited resampler: polyphase windowed-sinc (Kaiser) for rational ratios.
 *
 * Why hand-written: the maintained library of the field, libsamplerate (as
 * `@alexanderolsen/libsamplerate-js`, wasm), measured on the 2-core reference machine with its
 * fastest sinc converter: 8-44 ms to create a converter (every utterance needs fresh filter
 * state, and it has no reset) plus 10-46 ms per second of 22.05 kHz speech to 48 kHz; this filter
 * needs no set-up and 4-7 ms per second. On a 120 ms first-audio budget that difference matters.
 * `npm run bench -- --suite resampler` repeats the comparison; `tests/unit/resampler.test.ts`
 * checks this filter's output against libsamplerate's best converter.
 *
 * Plain JavaScript (types in resampler.d.ts) because it runs in the inference thread, which
 * loads without a TypeScript loader in every runtime (node, tsx, vitest, the compiled images).
 * The inner loop runs as WebAssembly SIMD (resampler-kernel.wat) where the runtime has it, which
 * every supported Node does; the JavaScript loop below is the fallback and the tests' reference.
 */

import { RESAMPLER_KERNEL_WASM } from './resampler-kernel.js';

const DEFAULT_TAPS = 48;
const KAISER_BETA = 8;
/** The filter's -6 dB point as a fraction of the lower Nyquist frequency. */
const CUTOFF = 0.94;

/** @param {number} a @param {number} b @returns {number} */
function gcd(a, b) {
  return b === 0 ? a : gcd(b, a % b);
}

/** @param {number} x */
function besselI0(x) {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 32; k += 1) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * Coefficient tables per phase, shared by every stream with the same rates: `up` phases of
 * `taps` coefficients each, flat for cache-friendly access.
 * @typedef {{ up: number; down: number; taps: number; half: number; coefficients: Float32Array }} Kernel
 */

/** @type {Map<string, Kernel>} */
const kernels = new Map();

/** @param {number} fromRate @param {number} toRate @param {number} baseTaps @returns {Kernel} */
function kernelFor(fromRate, toRate, baseTaps) {
  const key = `${fromRate}:${toRate}:${baseTaps}`;
  const cached = kernels.get(key);
  if (cached) return cached;
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  // Relative to the input rate: below the input Nyquist when upsampling, the output's when not.
  const fc = CUTOFF * Math.min(1, up / down);
  // A multiple of 8: the inner loop below is unrolled by 8.
  const taps = 8 * Math.ceil(baseTaps / Math.min(1, up / down) / 8);
  const half = taps / 2;
  const i0Beta = besselI0(KAISER_BETA);
  // Float32: half the cache footprint of 320 phases x 48 taps at 22.05 -> 48 kHz.
  const coefficients = new Float32Array(up * taps);
  for (let p = 0; p < up; p += 1) {
    const frac = p / up;
    for (let j = 0; j < taps; j += 1) {
      const d = frac + half - 1 - j; // distance from output instant to input sample, in input samples
      const x = Math.PI * fc * d;
      const sinc = d === 0 ? 1 : Math.sin(x) / x;
      const r = d / half;
      const window = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta;
      coefficients[p * taps + j] = fc * sinc * window;
    }
  }
  const kernel = { up, down, taps, half, coefficients };
  kernels.set(key, kernel);
  return kernel;
}

/**
 * The SIMD kernel and its memory, one per thread (module state): coefficient tables are copied in
 * once per rate pair, and each call copies the stream's pending input in and the outputs out.
 * @typedef {{ memory: WebAssembly.Memory; produce: (...args: number[]) => void; tables: Map<Kernel, number>; top: number }} Simd
 * @type {Simd | null | undefined} null: not available here
 */
let simd;

/** @returns {Simd | null} */
function simdKernel() {
  if (simd !== undefined) return simd;
  try {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const bytes = Uint8Array.from(atob(RESAMPLER_KERNEL_WASM), (c) => c.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    simd = { memory, produce: /** @type {Simd['produce']} */ (instance.exports.produce), tables: new Map(), top: 0 };
  } catch {
    simd = null; // no WebAssembly SIMD in this runtime: the JavaScript loop does the work
  }
  return simd;
}

/** @param {Simd} s @param {number} bytes */
function ensureMemory(s, bytes) {
  const missing = bytes - s.memory.buffer.byteLength;
  if (missing > 0) s.memory.grow(Math.ceil(missing / 65536));
}

/** Byte offset of the kernel's coefficient table in the SIMD memory. @param {Simd} s @param {Kernel} kernel */
function tableOffset(s, kernel) {
  let offset = s.tables.get(kernel);
  if (offset === undefined) {
    offset = s.top;
    s.top += kernel.coefficients.byteLength;
    ensureMemory(s, s.top);
    new Float32Array(s.memory.buffer, offset, kernel.coefficients.length).set(kernel.coefficients);
    s.tables.set(kernel, offset);
  }
  return offset;
}

/** Outputs per SIMD call. */
const SIMD_BLOCK = 16384;

/**
 * Chunks pushed in order come out as one continuous signal with no added delay; `finish` pads the
 * look-ahead with silence so the output holds exactly round(n * to / from) samples.
 */
export class StreamResampler {
  /** @type {Kernel | undefined} */
  #kernel;
  /**
   * Input history: `buffer[0]` is absolute input sample `bufferStart`; the first `length`
   * samples are valid. It grows and compacts in place: a stream allocates nothing per chunk.
   * @type {Float32Array}
   */
  #buffer;
  #length;
  #bufferStart;
  #inputCount = 0;
  #outputCount = 0;

  /** @type {Simd | null} */
  #simd;

  /**
   * @param {number} fromRate @param {number} toRate
   * @param {{ simd?: boolean }} [options] `simd: false` forces the JavaScript loop
   */
  constructor(fromRate, toRate, taps = DEFAULT_TAPS, options = {}) {
    this.fromRate = fromRate;
    this.toRate = toRate;
    if (!(fromRate > 0 && toRate > 0) || !Number.isInteger(fromRate) || !Number.isInteger(toRate)) {
      throw new RangeError(`sample rates must be positive integers (got ${fromRate} -> ${toRate})`);
    }
    this.#kernel = fromRate === toRate ? undefined : kernelFor(fromRate, toRate, taps);
    this.#simd = options.simd === false ? null : simdKernel();
    // Silence before the first sample, so the filter never reads before the buffer.
    const lead = this.#kernel?.half ?? 0;
    this.#buffer = new Float32Array(Math.max(lead, 1));
    this.#length = lead;
    this.#bufferStart = -lead;
  }

  /** @param {Float32Array} input @returns {Float32Array} */
  push(input) {
    if (!this.#kernel) return input.slice();
    this.#append(input);
    return this.#produce(this.#inputCount);
  }

  /** @returns {Float32Array} */
  finish() {
    if (!this.#kernel) return new Float32Array(0);
    const { up, down, half } = this.#kernel;
    const expected = Math.round((this.#inputCount * up) / down);
    const real = this.#inputCount;
    this.#append(new Float32Array(half + 1));
    const out = this.#produce(this.#inputCount, expected - this.#outputCount);
    this.#inputCount = real;
    return out;
  }

  /** @param {Float32Array} input */
  #append(input) {
    const needed = this.#length + input.length;
    if (needed > this.#buffer.length) {
      const grown = new Float32Array(Math.max(needed, 2 * this.#buffer.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(input, this.#length);
    this.#length = needed;
    this.#inputCount += input.length;
  }

  /**
   * Emits every output whose taps lie within the first `available` input samples.
   * @param {number} available
   */
  #produce(available, limit = Number.POSITIVE_INFINITY) {
    const { up, down, half } = /** @type {Kernel} */ (this.#kernel);
    const lastBase = available - half - 1;
    const possible = Math.max(0, Math.floor(((lastBase + 1) * up - 1) / down) + 1 - this.#outputCount);
    const count = Math.min(possible, limit);
    const out = new Float32Array(count);
    if (this.#simd) this.#filterSimd(this.#simd, out);
    else this.#filterJs(out);
    this.#outputCount += count;
    // Keep only the history the next output still needs.
    const nextBase = Math.floor((this.#outputCount * down) / up);
    const keepFrom = nextBase - half + 1 - this.#bufferStart;
    if (keepFrom > 0) {
      const drop = Math.min(keepFrom, this.#length);
      this.#buffer.copyWithin(0, drop, this.#length);
      this.#length -= drop;
      this.#bufferStart += keepFrom;
    }
    return out;
  }

  /** Fills `out` with the next outputs, JavaScript loop. @param {Float32Array} out */
  #filterJs(out) {
    const { up, down, taps, half, coefficients } = /** @type {Kernel} */ (this.#kernel);
    const buffer = this.#buffer;
    let position = this.#outputCount * down;
    for (let n = 0; n < out.length; n += 1) {
      const base = Math.floor(position / up);
      const row = (position - base * up) * taps;
      const first = base - half + 1 - this.#bufferStart;
      // Unrolled by 8 into 4 sums: 2.5x faster in V8 than one running sum (no SIMD in plain JS;
      // the sums' independence lets the CPU overlap the multiply-adds).
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let c = row, b = first, end = row + taps; c < end; c += 8, b += 8) {
        a0 += coefficients[c] * buffer[b] + coefficients[c + 4] * buffer[b + 4];
        a1 += coefficients[c + 1] * buffer[b + 1] + coefficients[c + 5] * buffer[b + 5];
        a2 += coefficients[c + 2] * buffer[b + 2] + coefficients[c + 6] * buffer[b + 6];
        a3 += coefficients[c + 3] * buffer[b + 3] + coefficients[c + 7] * buffer[b + 7];
      }
      out[n] = a0 + a1 + (a2 + a3);
      position += down;
    }
  }

  /**
   * Fills `out` with the next outputs, SIMD kernel, in blocks: each block's input window is
   * copied into the kernel's memory, which so stays small (~0.3 MB) however long a chunk is.
   * @param {Simd} s @param {Float32Array} out
   */
  #filterSimd(s, out) {
    const kernel = /** @type {Kernel} */ (this.#kernel);
    const { up, down, taps, half } = kernel;
    const coef = tableOffset(s, kernel);
    const input = s.top;
    const output = input + (Math.ceil((SIMD_BLOCK * down) / up) + taps + 1) * 4;
    ensureMemory(s, output + SIMD_BLOCK * 4);
    for (let done = 0; done < out.length; done += SIMD_BLOCK) {
      const count = Math.min(SIMD_BLOCK, out.length - done);
      const position = (this.#outputCount + done) * down;
      const base = Math.floor(position / up);
      const lastBase = Math.floor((position + (count - 1) * down) / up);
      const from = base - half + 1 - this.#bufferStart;
      const to = lastBase - half + 1 - this.#bufferStart + taps;
      new Float32Array(s.memory.buffer, input, to - from).set(this.#buffer.subarray(from, to));
      // The kernel's phase arithmetic starts near zero each block (32-bit there).
      s.produce(coef, input, output, count, position - base * up, up, down, taps);
      out.set(new Float32Array(s.memory.buffer, output, count), done);
    }
  }
}
