/** Streaming band-limited resampler (polyphase windowed sinc); see resampler.js. */
export declare class StreamResampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** `simd: false` runs the JavaScript loop instead of the WebAssembly SIMD kernel. */
  constructor(fromRate: number, toRate: number, taps?: number, options?: { simd?: boolean });
  push(input: Float32Array): Float32Array;
  /** Pads the look-ahead with silence: the stream's output then holds round(n * to / from) samples. */
  finish(): Float32Array;
}
