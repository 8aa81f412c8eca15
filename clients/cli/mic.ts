/** Microphone input: a 16 kHz WAV streamed at real time (--mic-file), or live arecord (--mic). */
import { spawn, type ChildProcess } from 'node:child_process';
import { findExecutable } from './playback.js';

/** 20 ms of 16 kHz mono s16le. */
export const MIC_FRAME_BYTES = 640;
const FRAME_MS = 20;
/** Silence after the file so the server's VAD sees the speech end (a real mic never goes quiet-less). */
const TRAILING_SILENCE_MS = 600;

/** Sends `pcm` as 20 ms frames paced at real time (drift-corrected), then a little silence. */
export class MicFileStreamer {
  private timer: NodeJS.Timeout | undefined;
  private started = false;

  constructor(
    private readonly pcm: Buffer,
    private readonly send: (frame: Buffer) => void,
    private readonly onFinished: () => void,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  get hasStarted(): boolean {
    return this.started;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const silence = Buffer.alloc(Math.round((TRAILING_SILENCE_MS / FRAME_MS) * MIC_FRAME_BYTES));
    const all = Buffer.concat([this.pcm, silence]);
    const t0 = performance.now();
    let offset = 0;
    let n = 0;
    const tick = (): void => {
      // Send every frame that is due by now (catches up after a late timer).
      while (offset < all.length && performance.now() - t0 >= n * FRAME_MS) {
        this.send(all.subarray(offset, Math.min(all.length, offset + MIC_FRAME_BYTES)));
        offset += MIC_FRAME_BYTES;
        n += 1;
      }
      if (offset >= all.length) {
        this.timer = undefined;
        this.onFinished();
        return;
      }
      this.timer = setTimeout(tick, Math.max(0, t0 + n * FRAME_MS - performance.now()));
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Live capture through arecord, re-chunked into 20 ms frames; undefined when arecord is absent. */
export function startArecord(send: (frame: Buffer) => void, warn: (line: string) => void): ChildProcess | undefined {
  if (!findExecutable('arecord')) {
    warn('live microphone capture is not available in this build (arecord not found); use --mic-file speech.wav');
    return undefined;
  }
  const child = spawn('arecord', ['-q', '-f', 'S16_LE', '-r', '16000', '-c', '1', '-t', 'raw'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = Buffer.alloc(0);
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= MIC_FRAME_BYTES) {
      send(pending.subarray(0, MIC_FRAME_BYTES));
      pending = pending.subarray(MIC_FRAME_BYTES);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('error', (err) => warn(`arecord failed: ${err.message}`));
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM' && code !== 0) warn(`arecord exited (${code ?? signal}): ${stderr.trim().split('\n')[0] ?? ''}`);
  });
  return child;
}
