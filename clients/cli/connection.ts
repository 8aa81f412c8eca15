/**
 * One WebSocket to the orchestrator that comes back by itself: exponential backoff 0.5 s → 8 s
 * after a drop or a failed attempt, one clear line per failure, and a give-up after
 * `maxRetries` failed attempts in a row (unlimited when undefined).
 */
import WebSocket from 'ws';
import type { ServerMessage } from '../../transports/websocket/protocol.js';

export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 8_000;

export interface ConnectionHandlers {
  onOpen(): void;
  onMessage(message: ServerMessage): void;
  /** A raw 1920-byte audio frame (audio_format "binary"). */
  onBinaryAudio(pcm: Buffer): void;
  /** The socket went away (after it had been open). */
  onDrop(): void;
  onGiveUp(): void;
  log(line: string): void;
}

/** One line saying why a connection attempt failed. */
export function describeConnectError(err: Error & { code?: string }, url: string): string {
  const host = safeHost(url);
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${url}: is the orchestrator running? try npm start`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `DNS lookup failed for "${host}": check the host name in --host`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot reach ${host} (${err.code})`;
    case 'ECONNRESET':
      return `connection to ${url} was reset`;
    default:
      return `connection to ${url} failed: ${err.message}`;
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

export class Connection {
  private ws: WebSocket | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    readonly url: string,
    private readonly maxRetries: number | undefined,
    private readonly h: ConnectionHandlers,
  ) {}

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.closing = false;
    this.connect();
  }

  send(message: object): boolean {
    if (!this.isOpen) return false;
    this.ws?.send(JSON.stringify(message));
    return true;
  }

  sendBinary(data: Buffer): boolean {
    if (!this.isOpen) return false;
    this.ws?.send(data, { binary: true });
    return true;
  }

  /** Closes for good (no reconnect); resolves once the socket is closed or after a short grace. */
  close(): Promise<void> {
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const grace = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        clearTimeout(grace);
        resolve();
      });
      if (ws.readyState === WebSocket.CONNECTING) {
        ws.terminate();
        return;
      }
      // Ask the server to end the session (it answers session_end and closes); a server without
      // that message answers unknown_type, so close from this side after a short wait anyway.
      ws.send(JSON.stringify({ type: 'session_end' }));
      const fallback = setTimeout(() => ws.close(1000, 'client quit'), 400);
      ws.once('close', () => clearTimeout(fallback));
    });
  }

  private connect(): void {
    const ws = new WebSocket(this.url, { handshakeTimeout: 10_000 });
    this.ws = ws;
    let opened = false;
    let failure: string | undefined;
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      this.h.onOpen();
    });
    ws.on('message', (data, isBinary) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (isBinary) {
        this.h.onBinaryAudio(buf);
        return;
      }
      let message: ServerMessage;
      try {
        message = JSON.parse(buf.toString('utf8')) as ServerMessage;
      } catch {
        this.h.log(`[warn] server sent a frame that is not JSON; ignored`);
        return;
      }
      this.h.onMessage(message);
    });
    ws.on('unexpected-response', (_req, res) => {
      failure = `${this.url} answered HTTP ${res.statusCode} instead of a WebSocket upgrade: is this the orchestrator's WebSocket port?`;
      ws.terminate();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      failure ??= describeConnectError(err, this.url);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.closing) return;
      if (opened) {
        const why = reason.length ? `${code} ${reason.toString()}` : String(code);
        this.h.log(`[connection] lost (${why})`);
        this.h.onDrop();
      } else {
        this.h.log(`[connection] ${failure ?? `connection to ${this.url} closed before it opened`}`);
      }
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.maxRetries !== undefined && this.failures >= this.maxRetries) {
      this.h.log(`[connection] giving up after ${this.failures} ${this.failures === 1 ? 'retry' : 'retries'}`);
      this.h.onGiveUp();
      return;
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.failures);
    this.failures += 1;
    this.h.log(`[connection] reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${this.failures}${this.maxRetries !== undefined ? ` of ${this.maxRetries}` : ''})`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closing) this.connect();
    }, delay);
  }
}
