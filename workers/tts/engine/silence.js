// Plain JavaScript (types in silence.d.ts): it runs in the inference thread, which loads without
// a TypeScript loader in every runtime.

/** Kept before the first audible sample, so a soft onset is not cut. */
const TRIM_LEAD_IN_MS = 5;
/** Never trimmed, whatever the level: an utterance that starts quietly on purpose keeps it. */
const TRIM_MAX_MS = 200;

/**
 * Samples of leading silence to drop from an utterance's first chunk. Piper's output opens with
 * 20-40 ms below -60 dBFS (measured on en_US-joe-medium): time the listener waits for nothing.
 * @param {Float32Array} audio
 * @param {number} sampleRate
 * @param {number} thresholdDb
 * @returns {number}
 */
export function leadingSilence(audio, sampleRate, thresholdDb) {
  const threshold = 10 ** (thresholdDb / 20);
  const limit = Math.min(audio.length - 1, Math.round((TRIM_MAX_MS / 1000) * sampleRate));
  let first = 0;
  while (first < limit && Math.abs(audio[first]) <= threshold) first += 1;
  return Math.max(0, first - Math.round((TRIM_LEAD_IN_MS / 1000) * sampleRate));
}
