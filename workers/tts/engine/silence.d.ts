/**
 * Samples of leading silence to drop (those before the first sample above `thresholdDb` dBFS,
 * less a 5 ms lead-in, at most 200 ms, never the whole block); see silence.js.
 */
export declare function leadingSilence(audio: Float32Array, sampleRate: number, thresholdDb: number): number;
