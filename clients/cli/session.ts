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

  constructor(private readonly ev: SessionEvents) {}

  sent(text: string): void {
    this.pending.push({ text, sentAt: performance.now() });
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
      this.lastState = m.state;
      this.ev.state(m.state);
      // Back to LISTENING from speech without a `done`: stopped (client STOP, barge-in stop
      // policy, or a worker error); the server dropped its queue as well.
      if (m.state === 'LISTENING' && before !== undefined && before !== 'LISTENING' && (this.current || this.pending.length)) {
        const u = this.current;
        const dropped = this.pending.length;
        this.current = undefined;
        this.pending.length = 0;
        this.finished += (u ? 1 : 0) + dropped;
        this.ev.stopped(u, dropped);
      }
    }
  }

  /** The connection dropped: whatever was in flight is gone with the server session. */
  reset(): SentText[] {
    const lost = [...this.pending];
    if (this.current?.text !== undefined && this.current.sentAt !== undefined) lost.unshift({ text: this.current.text, sentAt: this.current.sentAt });
    this.current = undefined;
    this.pending.length = 0;
    this.lastState = undefined;
    return lost;
  }
}
