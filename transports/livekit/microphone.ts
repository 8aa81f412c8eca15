/**
 * A user's microphone track as 16 kHz mono s16le PCM (SPEC §3), the VAD's input. LiveKit's
 * `AudioStream` resamples natively (48 kHz Opus → 16 kHz) and delivers 10 ms frames.
 */
import { AudioStream, type Track } from '@livekit/rtc-node';

export const MIC_SAMPLE_RATE = 16_000;

export interface MicrophoneFeed {
  /** Stops reading; frames already read are still delivered. */
  close(): void;
  /** Settles when the track ended or `close()` was called. */
  readonly done: Promise<void>;
}

/** Reads `track` and hands each frame to `onPcm`, one at a time (the next read waits for it). */
export function feedMicrophone(track: Track, onPcm: (pcm: Buffer) => void | Promise<void>, onError?: (err: unknown) => void): MicrophoneFeed {
  const stream = new AudioStream(track, { sampleRate: MIC_SAMPLE_RATE, numChannels: 1 });
  const reader = stream.getReader();
  let closed = false;
  const done = (async () => {
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended || closed) return;
        const d = value.data;
        // The frame's view into the FFI buffer: copy it out as little-endian bytes.
        await onPcm(Buffer.from(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)));
      }
    } catch (err) {
      if (!closed) onError?.(err);
    } finally {
      reader.releaseLock();
    }
  })();
  return {
    done,
    close() {
      if (closed) return;
      closed = true;
      void reader.cancel().catch(() => undefined);
    },
  };
}
