/** Output format everywhere (SPEC §3): 48 kHz mono s16le in 20 ms frames. */
export const OUTPUT_SAMPLE_RATE = 48_000;
export const FRAME_MS = 20;
export const FRAME_SAMPLES = (OUTPUT_SAMPLE_RATE * FRAME_MS) / 1000; // 960
export const FRAME_BYTES = FRAME_SAMPLES * 2; // 1920

export interface AudioFrame {
  /** 960 mono samples; the last frame of an utterance is zero-padded. */
  samples: Int16Array;
  sampleRate: typeof OUTPUT_SAMPLE_RATE;
  /** 1-based position of this frame within its synthesis. */
  sequence: number;
  /** Real (unpadded) samples in this frame. */
  validSamples: number;
  /** True on the last frame of the synthesis. */
  final: boolean;
  /**
   * Text (UTF-16 units from the start) whose speech lies wholly before this frame: the end of the
   * last finished sentence. After a failure, synthesis can resume from here.
   */
  textDone: number;
}

/** The frame's bytes as s16le, without copying (Node runs little-endian everywhere it ships). */
export function frameBytes(frame: AudioFrame): Buffer {
  return Buffer.from(frame.samples.buffer, frame.samples.byteOffset, frame.samples.byteLength);
}
