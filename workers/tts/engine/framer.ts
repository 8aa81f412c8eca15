import { FRAME_SAMPLES } from './audio-frame.js';

export interface RawFrame {
  samples: Int16Array;
  validSamples: number;
}

/** Cuts a stream of samples into fixed 20 ms frames; `flush` zero-pads the remainder. */
export class Framer {
  private pending = new Int16Array(FRAME_SAMPLES);
  private filled = 0;

  push(samples: Int16Array): RawFrame[] {
    const frames: RawFrame[] = [];
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(FRAME_SAMPLES - this.filled, samples.length - offset);
      this.pending.set(samples.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === FRAME_SAMPLES) {
        frames.push({ samples: this.pending, validSamples: FRAME_SAMPLES });
        this.pending = new Int16Array(FRAME_SAMPLES);
        this.filled = 0;
      }
    }
    return frames;
  }

  flush(): RawFrame | undefined {
    if (this.filled === 0) return undefined;
    const frame = { samples: this.pending, validSamples: this.filled };
    this.pending = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
    return frame;
  }
}
