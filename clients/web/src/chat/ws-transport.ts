/**
 * WebSocket transport (SPEC §5), the fallback when no LiveKit server is configured: JSON text
 * frames both ways, the agent's audio as raw 1920-byte binary frames (`audio_format: binary`),
 * the microphone as 16 kHz s16le binary frames. Reconnects with backoff when the connection
 * drops (the orchestrator restarting).
 */
import { parseServerMessage, type ClientMessage } from '../shared/messages.js';
import { microphoneErrorMessage, type Transport, type TransportDeps } from './transport.js';
import { webSocketUrl } from './ws-url.js';

/** Mic frames are dropped (not queued) while this much is waiting in the socket. */
const MAX_BUFFERED = 64 * 1024;

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  private ws: WebSocket | undefined;
  private closed = false;
  private attempt = 0;
  private micStarted = false;

  constructor(private readonly deps: TransportDeps) {}

  async connect(): Promise<void> {
    await this.open();
    if (!this.micStarted) {
      this.micStarted = true;
      try {
        await this.deps.engine.startMicrophone({ send: true, gate: initialGate() });
      } catch (err) {
        this.deps.events.onMicrophoneError(microphoneErrorMessage(err));
      }
    }
  }

  private open(): Promise<void> {
    // In `npm run web:dev` (Vite's dev server, the only place with hot reload) Vite proxies /ws.
    const url = webSocketUrl(this.deps.config, window.location, Boolean(import.meta.hot));
    this.deps.events.onStatus(this.attempt === 0 ? 'connecting' : 'reconnecting', url);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.attempt = 0;
        ws.send(JSON.stringify({ type: 'session_start', audio_format: 'binary' } satisfies ClientMessage));
        this.deps.events.onStatus('connected', url);
        resolve();
      };
      ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
        if (typeof e.data === 'string') {
          const m = parseServerMessage(e.data);
          if (m) this.deps.events.onMessage(m);
          else console.warn('ignored message', e.data.slice(0, 200));
          return;
        }
        this.deps.engine.playPcm(e.data);
        this.deps.events.onAudioFrame();
      };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        if (!opened) reject(new Error(`cannot connect to ${url}`));
        if (this.closed) {
          this.deps.events.onStatus('disconnected');
          return;
        }
        this.attempt += 1;
        const delay = Math.min(10_000, 500 * 2 ** Math.min(this.attempt - 1, 5));
        this.deps.events.onStatus('reconnecting', `closed (${e.code}); retrying in ${delay} ms`);
        setTimeout(() => {
          if (!this.closed) this.open().catch(() => undefined);
        }, delay);
      };
    });
  }

  send(message: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** A 16 kHz microphone frame; dropped rather than queued behind a congested socket. */
  sendMic(pcm: ArrayBuffer): void {
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN && ws.bufferedAmount < MAX_BUFFERED) ws.send(pcm);
  }

  close(): void {
    this.closed = true;
    this.ws?.close(1000);
  }
}

/** `?mic=gated` starts with the microphone gate closed (tests open it with `__duplex.mic`). */
export function initialGate(): 'open' | 'closed' {
  return new URLSearchParams(window.location.search).get('mic') === 'gated' ? 'closed' : 'open';
}
