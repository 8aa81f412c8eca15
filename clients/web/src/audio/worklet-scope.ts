/**
 * The AudioWorkletGlobalScope as the two processors use it. TypeScript ships no lib for it, so
 * its few members are typed here and read from `globalThis` (never in main-thread code).
 */
export interface ProcessorBase {
  readonly port: MessagePort;
}

export interface WorkletScope {
  AudioWorkletProcessor: new () => ProcessorBase;
  registerProcessor(name: string, ctor: new () => ProcessorBase & { process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean }): void;
  /** The context's sample rate. */
  sampleRate: number;
  /** Context time (s) of the render quantum being processed. */
  currentTime: number;
}

export const scope = globalThis as unknown as WorkletScope;
