import { readFileSync } from 'node:fs';

/** Percentile by nearest rank on a copy of the samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function summary(samples: readonly number[]): { p50: number; p95: number } {
  return { p50: round(percentile(samples, 50)), p95: round(percentile(samples, 95)) };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Peak resident set size of another process so far (VmHWM), in MB. */
export function processPeakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return round(kb / 1024, 1);
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}
