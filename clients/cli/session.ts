/**
 * Utterance bookkeeping on the client side: texts sent, the reply now arriving, first-audio
 * latency (text sent → first audio message), audio duration, and what counts as finished
 * (`done`, or a return to LISTENING without `done`: a STOP, which drops the server's queue).
 */
import type { ServerMessage } from '../../transports/websocket/protocol.js';

export const FRAME_MS = 20;

export interface SentText {
  text: string;
  sentAt: number;
  /** Texts sent before this one. */
  seq: number;
}

export interface Utterance {
  index: number;
  text: string | undefined;
  sentAt: number | undefined;
  firstAudioAt: number | undefined;
  chunks: Buffer[];
  frames: number;
}

export interface SessionEvents {
  firstAudio(u: Utterance, latencyMs: number | undefined): void;
  audio(u: Utterance, pcm: Buffer): void;
  done(u: Utterance): void;
  stopped(u: Utterance | undefined, dropped: number): void;
  state(state: string): void;
}

export class SessionTracker {
  readonly pending: SentText[] = [];
  current: Utterance | undefined;
  count = 0;
  finished = 0;
  private lastState: string | undefined;
  private sentCount = 0;
  /**
   * Texts sent when the last `done` arrived, while nothing has happened since. The server sends
   * `done`, then LISTENING when its queue is empty: a text sent in between reached it only after,
   * so that LISTENING did not drop it.
   */
  private sentBeforeDone: number | undefined;

  constructor(private readonly ev: SessionEvents) {}

  sent(text: string): void {
    this.pending.push({ text, sentAt: performance.now(), seq: this.sentCount });
    this.sentCount += 1;
  }

  /** The session's state as last reported by the server (undefined before the first). */
  get state(): string | undefined {
    return this.lastState;
  }

  /** Nothing sent is still waiting for its reply. */
  get idle(): boolean {
    return this.pending.length === 0 && this.current === undefined;
  }

  audio(pcm: Buffer): void {
    this.sentBeforeDone = undefined;
    let u = this.current;
    if (!u) {
      const head = this.pending.shift();
      this.count += 1;
      u = { index: this.count, text: head?.text, sentAt: head?.sentAt, firstAudioAt: performance.now(), chunks: [], frames: 0 };
      this.current = u;
      this.ev.firstAudio(u, head ? (u.firstAudioAt as number) - head.sentAt : undefined);
    }
    u.chunks.push(pcm);
    u.frames += 1;
    this.ev.audio(u, pcm);
  }

  message(m: ServerMessage): void {
    if (m.type === 'done') {
      this.sentBeforeDone = this.sentCount;
      const u = this.current;
      this.current = undefined;
      if (u) {
        this.finished += 1;
        this.ev.done(u);
      } else if (this.pending.length) {
        // done without audio (e.g. nothing speakable): that text is finished too.
        this.pending.shift();
        this.finished += 1;
      }
    } else if (m.type === 'state') {
      const before = this.lastState;
      const sentBeforeDone = this.sentBeforeDone;
      this.lastState = m.state;
      if (m.state !== 'LISTENING') this.sentBeforeDone = undefined;
      this.ev.state(m.state);
      // Back to LISTENING from speech with a reply or texts outstanding: stopped (client STOP,
      // barge-in stop policy, or a worker error); the server dropped its queue as well, though
      // not texts sent after the `done` this LISTENING follows.
      if (m.state === 'LISTENING' && before !== undefined && before !== 'LISTENING') {
        const u = this.current;
        const keepFrom = u ? undefined : sentBeforeDone;
        const dropped = keepFrom === undefined ? this.pending.length : this.pending.filter((p) => p.seq < keepFrom).length;
        if (u || dropped > 0) {
          this.current = undefined;
          this.pending.splice(0, dropped);
          this.finished += (u ? 1 : 0) + dropped;
          this.ev.stopped(u, dropped);
        }
      }
    }
  }

  /** The connection dropped: whatever was in flight is gone with the server session (its texts). */
  reset(): string[] {
    const lost = this.pending.map((p) => p.text);
    if (this.current?.text !== undefined) lost.unshift(this.current.text);
    this.current = undefined;
    this.pending.length = 0;
    this.lastState = undefined;
    this.sentBeforeDone = undefined;
    return lost;
  }
}
