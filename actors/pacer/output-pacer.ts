/**
 * Output pacer: sends 20 ms TTS frames (SPEC §3: 48 kHz mono s16le, 1920 bytes) to a sink at the
 * real-time cadence, a small lead ahead of playout.
 *
 * Timeline. When output starts (first frame, after `release()`, or after the client's buffer
 * has run dry) the pacer anchors a timeline at `anchor = now`. Frame n (0-based since the
 * anchor) plays at the client from `anchor + n×20` and is due to be SENT at
 *
 *     due(n) = anchor + n×frameMs − leadMs
 *
 * so with the defaults (20 ms frames, 60 ms lead) frame 0 (the real-time one) and the 3 frames
 * ahead of real time (n = 1..3) leave at once, then one frame every 20 ms. Every deadline is
 * computed from the anchor — never by chaining relative timeouts — so timer lateness does not
 * accumulate: the lead never drifts.
 *
 * Frames that arrive later than their due time are sent on arrival (the lead is an allowance,
 * not a requirement). If the client's buffer would run dry — the queue is empty at
 * `anchor + n×frameMs`, the playout time of the next frame, while the utterance has not ended —
 * that is an UNDERRUN (counted once per stall); the next frame then re-anchors the timeline
 * (the client has nothing buffered, so the lead is rebuilt). Frames of a following utterance
 * that arrive while the client still has audio buffered continue the same timeline.
 *
 * Jitter (SPEC §8) is measured per sent frame as `actual send time − ideal`, where
 * `ideal = max(due(n), anchor, time the frame was enqueued)`: the deviation the pacer itself
 * added, not the producer's lateness. `stats()` reports p50 / p95 / max over the last 4096
 * frames.
 *
 * Control: `hold()` stops output at once — no frame leaves after it returns, even when called
 * from inside the sink during a burst; queued frames stay queued. `release()` resumes with the
 * exact next queued frame and re-anchors the timeline. `flush()` (STOP) drops everything queued
 * (including pending ends, so no `onDrained` fires for the dropped utterance) and returns the
 * pacer to idle and NOT held, ready for the next utterance.
 *
 * Utterances: `end()` marks the last frame enqueued so far as the utterance's last; when it has
 * been sent `onDrained` fires (synchronously, from the pacer). Frames of the next utterance may
 * be enqueued right after `end()`. While held, no `onDrained` fires (SPEC §6 contract: no done
 * for a held utterance before resume).
 *
 * The first frame leaves synchronously inside `enqueue()` (lowest first-audio latency).
 */
import { realClock } from './clock.js';
import type { PacerClock } from './clock.js';

export const FRAME_MS = 20;
export const FRAME_BYTES = 1920; // 960 samples × 2 bytes, 48 kHz mono s16le
export const DEFAULT_LEAD_MS = 60;

export interface PacedFrame {
  /** 1920 bytes of 48 kHz mono s16le PCM. */
  pcm: Buffer;
  /** Sequence number within the synthesis (SPEC §4: from 1, +1 per frame). */
  sequence: number;
  /** The utterance the frame belongs to (reported back in `onDrained`). */
  utteranceId?: string;
}

export interface DrainedInfo {
  utteranceId: string | undefined;
  /** Frames of this utterance that were sent. */
  frames: number;
  /** Sequence of the utterance's last sent frame, if any. */
  lastSequence: number | undefined;
}

export interface JitterStats {
  /** Frames measured (the window holds the last 4096). */
  count: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export interface PacerStats {
  framesSent: number;
  underruns: number;
  /** Frames waiting in the queue. */
  queued: number;
  held: boolean;
  /** Exceptions thrown by the sink (caught; the frame counts as sent). */
  sinkErrors: number;
  jitter: JitterStats;
}

export interface OutputPacerOptions {
  /** Receives every frame at its send time. */
  sink: (frame: PacedFrame) => void;
  /** How far ahead of real time frames may be sent (ms). Default 60 (3 frames). */
  leadMs?: number;
  /** Frame duration (ms). Default 20. */
  frameMs?: number;
  /** Time source; default the real monotonic clock with a 2 ms spin. */
  clock?: PacerClock;
  /** Called when an utterance's last frame has been sent (see `end()`). */
  onDrained?: (info: DrainedInfo) => void;
  /** Called when the queue ran dry while an utterance was still open. */
  onUnderrun?: (count: number) => void;
  /** Called when the sink throws. */
  onSinkError?: (error: unknown) => void;
  /** Expected frame size in bytes; 0 disables the check. Default 1920. */
  frameBytes?: number;
}

type QueueItem =
  | { kind: 'frame'; frame: PacedFrame; enqueuedAt: number }
  | { kind: 'end'; utteranceId: string | undefined };

interface Timeline {
  anchor: number;
  /** Frames sent since the anchor (the next frame's index n). */
  index: number;
}

const JITTER_WINDOW = 4096;

export class OutputPacer {
  private readonly sink: (frame: PacedFrame) => void;
  private readonly leadMs: number;
  private readonly frameMs: number;
  private readonly frameBytes: number;
  private readonly clock: PacerClock;
  private readonly onDrained: ((info: DrainedInfo) => void) | undefined;
  private readonly onUnderrun: ((count: number) => void) | undefined;
  private readonly onSinkError: ((error: unknown) => void) | undefined;

  private queue: QueueItem[] = [];
  private timeline: Timeline | null = null;
  private held = false;
  private disposed = false;
  private pumping = false;
  private cancelTimer: (() => void) | null = null;
  private timerKind: 'due' | 'watchdog' | null = null;
  /** A frame was enqueued since the last end() / flush(): the utterance is still open. */
  private open = false;
  /** end() was the last producer call (so a second end() is a no-op). */
  private endedLast = false;
  private lastUtteranceId: string | undefined;
  private utteranceFrames = 0;
  private utteranceLastSeq: number | undefined;

  private sent = 0;
  private underrunCount = 0;
  private sinkErrorCount = 0;
  private jitters: number[] = [];
  private jitterNext = 0;
  private jitterTotal = 0;

  constructor(options: OutputPacerOptions) {
    this.sink = options.sink;
    this.leadMs = options.leadMs ?? DEFAULT_LEAD_MS;
    this.frameMs = options.frameMs ?? FRAME_MS;
    this.frameBytes = options.frameBytes ?? FRAME_BYTES;
    this.clock = options.clock ?? realClock;
    this.onDrained = options.onDrained;
    this.onUnderrun = options.onUnderrun;
    this.onSinkError = options.onSinkError;
    if (!(this.leadMs >= 0) || !Number.isFinite(this.leadMs)) throw new RangeError(`leadMs must be >= 0, got ${this.leadMs}`);
    if (!(this.frameMs > 0) || !Number.isFinite(this.frameMs)) throw new RangeError(`frameMs must be > 0, got ${this.frameMs}`);
  }

  /** Queues a frame; it may be sent synchronously (start of output, or late frames). */
  enqueue(frame: PacedFrame): void {
    if (this.disposed) throw new Error('OutputPacer: enqueue after dispose()');
    if (!Buffer.isBuffer(frame.pcm)) throw new TypeError('OutputPacer: frame.pcm must be a Buffer');
    if (this.frameBytes > 0 && frame.pcm.length !== this.frameBytes) {
      throw new RangeError(`OutputPacer: frame must be ${this.frameBytes} bytes, got ${frame.pcm.length}`);
    }
    this.queue.push({ kind: 'frame', frame, enqueuedAt: this.clock.now() });
    this.open = true;
    this.endedLast = false;
    if (frame.utteranceId !== undefined) this.lastUtteranceId = frame.utteranceId;
    this.kick();
  }

  /**
   * Marks the end of the current utterance: `onDrained` fires once the frames enqueued so far
   * have been sent. `end()` with nothing enqueued drains at once (0 frames); a repeated `end()`
   * is ignored.
   */
  end(utteranceId?: string): void {
    if (this.disposed || this.endedLast) return;
    this.queue.push({ kind: 'end', utteranceId: utteranceId ?? this.lastUtteranceId });
    this.open = false;
    this.endedLast = true;
    this.kick();
  }

  /** Stops output at once: nothing is sent after this returns until `release()`. */
  hold(): void {
    this.held = true;
    this.clearTimer();
  }

  /** Resumes output with the next queued frame on a fresh timeline (lead rebuilt). */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.timeline = null;
    this.kick();
  }

  /** Drops every queued frame and pending end (STOP); the pacer becomes idle and not held. */
  flush(): number {
    const dropped = this.queue.filter((i) => i.kind === 'frame').length;
    this.queue = [];
    this.clearTimer();
    this.timeline = null;
    this.held = false;
    this.open = false;
    this.endedLast = false;
    this.utteranceFrames = 0;
    this.utteranceLastSeq = undefined;
    this.lastUtteranceId = undefined;
    return dropped;
  }

  /** Stops for good: cancels timers, drops the queue. */
  dispose(): void {
    this.flush();
    this.disposed = true;
  }

  get isHeld(): boolean {
    return this.held;
  }

  get framesSent(): number {
    return this.sent;
  }

  get underruns(): number {
    return this.underrunCount;
  }

  get queued(): number {
    return this.queue.reduce((n, i) => n + (i.kind === 'frame' ? 1 : 0), 0);
  }

  /** Audio queued and not yet sent, in milliseconds. */
  get queuedMs(): number {
    return this.queued * this.frameMs;
  }

  /** Per-frame send jitter samples (ms), oldest first (the last 4096). */
  jitterSamples(): number[] {
    if (this.jitters.length < JITTER_WINDOW) return [...this.jitters];
    return [...this.jitters.slice(this.jitterNext), ...this.jitters.slice(0, this.jitterNext)];
  }

  stats(): PacerStats {
    return {
      framesSent: this.sent,
      underruns: this.underrunCount,
      queued: this.queued,
      held: this.held,
      sinkErrors: this.sinkErrorCount,
      jitter: summarize(this.jitters, this.jitterTotal),
    };
  }

  // ---- scheduling --------------------------------------------------------------------------

  private kick(): void {
    if (this.held || this.disposed || this.pumping) return;
    if (this.timerKind === 'due') return; // the pending timer will pick the new item up
    this.pump();
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerKind = null;
  }

  private arm(kind: 'due' | 'watchdog', at: number, fn: () => void): void {
    this.clearTimer();
    this.timerKind = kind;
    this.cancelTimer = this.clock.schedule(at, () => {
      this.cancelTimer = null;
      this.timerKind = null;
      fn();
    });
  }

  private readonly pump = (): void => {
    this.clearTimer();
    this.pumping = true;
    try {
      while (!this.held && !this.disposed) {
        const head = this.queue[0];
        if (!head) {
          this.armWatchdog();
          return;
        }
        if (head.kind === 'end') {
          this.queue.shift();
          this.emitDrained(head.utteranceId);
          continue;
        }
        const now = this.clock.now();
        let tl = this.timeline;
        if (!tl) tl = this.timeline = { anchor: now, index: 0 };
        const due = tl.anchor + tl.index * this.frameMs - this.leadMs;
        if (due > now) {
          this.arm('due', due, this.pump);
          return;
        }
        this.queue.shift();
        this.recordJitter(now - Math.max(due, tl.anchor, head.enqueuedAt));
        const playout = tl.anchor + tl.index * this.frameMs;
        if (now > playout + this.frameMs / 2) {
          // The event loop stalled past this frame's playout: the client ran dry. Rebuild the
          // lead from here rather than bursting to catch up.
          this.timeline = { anchor: now, index: 1 };
        } else {
          tl.index += 1;
        }
        this.send(head.frame);
      }
    } finally {
      this.pumping = false;
    }
  };

  /**
   * Queue empty: at the next frame's playout time the client runs dry. If the utterance is still
   * open then, that is an underrun; either way the next frame re-anchors the timeline.
   */
  private armWatchdog(): void {
    const tl = this.timeline;
    if (!tl) return;
    const playout = tl.anchor + tl.index * this.frameMs;
    this.arm('watchdog', playout, () => {
      this.timeline = null;
      if (this.open && !this.held && this.queue.length === 0) {
        this.underrunCount += 1;
        this.onUnderrun?.(this.underrunCount);
      }
    });
  }

  private send(frame: PacedFrame): void {
    this.sent += 1;
    this.utteranceFrames += 1;
    this.utteranceLastSeq = frame.sequence;
    try {
      this.sink(frame);
    } catch (error) {
      this.sinkErrorCount += 1;
      this.onSinkError?.(error);
    }
  }

  private emitDrained(utteranceId: string | undefined): void {
    const info: DrainedInfo = { utteranceId, frames: this.utteranceFrames, lastSequence: this.utteranceLastSeq };
    this.utteranceFrames = 0;
    this.utteranceLastSeq = undefined;
    this.onDrained?.(info);
  }

  private recordJitter(ms: number): void {
    const value = Math.max(0, ms);
    this.jitterTotal += 1;
    if (this.jitters.length < JITTER_WINDOW) {
      this.jitters.push(value);
    } else {
      this.jitters[this.jitterNext] = value;
      this.jitterNext = (this.jitterNext + 1) % JITTER_WINDOW;
    }
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; 0 for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? 0;
}

function summarize(samples: readonly number[], count: number): JitterStats {
  if (samples.length === 0) return { count: 0, p50: 0, p95: 0, max: 0, mean: 0 };
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    count,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: Math.max(...samples),
    mean: sum / samples.length,
  };
}
