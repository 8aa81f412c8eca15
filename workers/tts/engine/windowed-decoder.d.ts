import type { onnx } from 'onnx-proto';
/** Runs the last decoder stage in an ONNX Loop over windows (same output); see windowed-decoder.js. */
export declare function windowLastStage(
  model: onnx.IModelProto,
  options?: { windowOutputSamples?: number; context?: number },
): { windowed: false } | { windowed: true; window: number; context: number; factor: number };
