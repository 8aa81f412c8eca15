/**
 * Integrated loudness (ITU-R BS.1770-4, mono) at 48 kHz, for optional normalisation of speech
 * to a LUFS target. Small enough to keep here; no maintained npm package implements the gated
 * measurement on raw sample arrays.
 */

// K-weighting at 48 kHz (BS.1770-4, table 1 and 2): a high shelf, then a high pass.
const SHELF = { b: [1.53512485958697, -2.69169618940638, 1.19839281085285], a: [-1.69065929318241, 0.73248077421585] };
const HIGHPASS = { b: [1, -2, 1], a: [-1.99004745483398, 0.99007225036621] };

function biquad(x: Float32Array, f: { b: number[]; a: number[] }): Float32Array {
  const [b0, b1, b2] = f.b as [number, number, number];
  const [a1, a2] = f.a as [number, number];
  const y = new Float32Array(x.length);
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i += 1) {
    const xi = x[i] as number;
    const yi = b0 * xi + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
    y[i] = yi;
    x2 = x1;
    x1 = xi;
    y2 = y1;
    y1 = yi;
  }
  return y;
}

/** Gated integrated loudness in LUFS of 48 kHz mono float audio; -Infinity for silence. */
export function integratedLoudness(samples: Float32Array, sampleRate = 48_000): number {
  if (sampleRate !== 48_000) throw new RangeError('loudness is measured on the 48 kHz output');
  const weighted = biquad(biquad(samples, SHELF), HIGHPASS);
  const block = 0.4 * sampleRate;
  const step = 0.1 * sampleRate;
  const powers: number[] = [];
  for (let start = 0; start + block <= weighted.length; start += step) {
    let sum = 0;
    for (let i = start; i < start + block; i += 1) sum += (weighted[i] as number) ** 2;
    powers.push(sum / block);
  }
  if (powers.length === 0) {
    // Shorter than one gating block: measure the whole signal ungated.
    let sum = 0;
    for (const v of weighted) sum += v * v;
    powers.push(sum / Math.max(1, weighted.length));
  }
  const lufs = (p: number) => -0.691 + 10 * Math.log10(p);
  const absolute = powers.filter((p) => lufs(p) > -70);
  if (absolute.length === 0) return Number.NEGATIVE_INFINITY;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const relativeGate = lufs(mean(absolute)) - 10;
  const gated = absolute.filter((p) => lufs(p) > relativeGate);
  return lufs(mean(gated.length > 0 ? gated : absolute));
}

/** Linear gain that brings `measured` to `target` LUFS, limited to +/- `maxDb`. */
export function gainToTarget(measured: number, target: number, maxDb = 20): number {
  if (!Number.isFinite(measured)) return 1;
  const db = Math.max(-maxDb, Math.min(maxDb, target - measured));
  return 10 ** (db / 20);
}
