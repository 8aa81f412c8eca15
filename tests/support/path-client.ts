/**
 * A WebSocket client (SPEC §5) for end-to-end tests that records every server message in arrival
 * order, lets a test wait for one, and offers a barrier: a WebSocket ping whose pong comes back
 * after everything the server sent before it read the ping (one socket, in order), so "nothing
 * arrived" can be asserted without sleeping. Audio frames keep their size, sequence and peak
 * level, not their samples.
 */
import WebSocket from 'ws';
import { waitUntil } from './wait-until.js';

export interface ServerMsg {
  type: string;
  state?: string;
  sequence?: number;
  code?: string;
  message?: string;
  utterance_id?: string;
  session_id?: string;
  speech?: boolean;
  /** Audio: decoded PCM bytes and peak |sample|. */
  bytes?: number;
  peak?: number;
  /** performance.now() at arrival. */
  at: number;
}

function peakOf(pcm: Buffer): number {
  let peak = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(i)));
  return peak;
}

export class PathClient {
  readonly messages: ServerMsg[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const at = performance.now();
      if (isBinary) {
        this.push({ type: 'audio', bytes: data.length, peak: peakOf(data), at });
        return;
      }
      const raw = JSON.parse(data.toString()) as ServerMsg & { pcm?: string };
      const { pcm, ...rest } = raw;
      if (pcm !== undefined) {
        const bytes = Buffer.from(pcm, 'base64');
        this.push({ ...rest, bytes: bytes.length, peak: peakOf(bytes), at });
      } else {
        this.push({ ...rest, at });
      }
    });
    this.closed = new Promise((resolve) => ws.once('close', () => resolve()));
  }

  static async connect(url: string): Promise<PathClient> {
    const ws = new WebSocket(url);
    const client = new PathClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  private push(m: ServerMsg): void {
    this.messages.push(m);
    for (const listener of [...this.listeners]) listener();
  }

  /** The first message at index ≥ `from` matching `pred` (index and message); rejects at the deadline. */
  waitFor(pred: (m: ServerMsg) => boolean, what: string, timeoutMs: number, from = 0): Promise<{ index: number; msg: ServerMsg }> {
    const find = () => {
      for (let i = from; i < this.messages.length; i += 1) if (pred(this.messages[i]!)) return { index: i, msg: this.messages[i]! };
      return undefined;
    };
    return waitUntil(find, this.listeners, timeoutMs, () => new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.describe(from)}`));
  }

  /** Resolves once the server has answered a ping sent now (so everything it sent before is here). */
  barrier(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(String(Math.random()));
      const onPong = (data: Buffer) => {
        if (!data.equals(payload)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.ws.off('pong', onPong);
      };
      this.ws.on('pong', onPong);
      this.ws.ping(payload);
    });
  }

  sendJson(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  /** 16 kHz mono s16le microphone audio, in frames of at most `frameBytes`. */
  sendAudio(pcm: Buffer, frameBytes = 32_000): void {
    for (let i = 0; i < pcm.length; i += frameBytes) this.ws.send(pcm.subarray(i, i + frameBytes), { binary: true });
  }

  /** Closes the socket and resolves once it is closed. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    await this.closed;
  }

  /** A compact log of the messages from `from` on: states by name, audio runs counted. */
  describe(from = 0): string {
    const out: string[] = [];
    let audio = 0;
    const flush = () => {
      if (audio) out.push(`audio×${audio}`);
      audio = 0;
    };
    for (const m of this.messages.slice(from)) {
      if (m.type === 'audio') {
        audio += 1;
        continue;
      }
      flush();
      if (m.type === 'state') out.push(m.state ?? '?');
      else if (m.type === 'vad') out.push(`vad:${String(m.speech)}`);
      else if (m.type === 'done') out.push(`done(${m.utterance_id ?? ''})`);
      else if (m.type === 'error') out.push(`error(${m.code ?? ''}: ${m.message ?? ''})`);
      else out.push(m.type);
    }
    flush();
    return out.join(' ') || '(nothing)';
  }
}
