import type { AudioEngine } from '../audio/engine.js';
import type { ClientConfig, ClientMessage, ServerMessage } from '../shared/messages.js';

export type ConnectionStatus = 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'failed';

export interface TransportEvents {
  onMessage(message: ServerMessage): void;
  /** One 48 kHz s16le frame arrived (WebSocket mode; LiveKit audio goes straight to the engine). */
  onAudioFrame(): void;
  onStatus(status: ConnectionStatus, detail?: string): void;
  /** The microphone could not be opened: the chat goes on by text, without barge-in. */
  onMicrophoneError(message: string): void;
}

/** Why the microphone failed, in words a user can act on. */
export function microphoneErrorMessage(err: unknown): string {
  if (err instanceof DOMException && err.name === 'NotAllowedError') return 'microphone permission was refused (allow it in the address bar and reload)';
  if (err instanceof DOMException && err.name === 'NotFoundError') return 'no microphone was found';
  if (typeof navigator.mediaDevices?.getUserMedia !== 'function') return 'this page is not in a secure context (use https or localhost)';
  return err instanceof Error ? err.message : String(err);
}

/** How the page reaches the orchestrator: WebSocket (SPEC §5) or a LiveKit room. */
export interface Transport {
  readonly kind: 'websocket' | 'livekit';
  /** Connects, starts the microphone path and resolves once messages can be sent. */
  connect(): Promise<void>;
  send(message: ClientMessage): void;
  close(): void;
}

export interface TransportDeps {
  config: ClientConfig;
  engine: AudioEngine;
  events: TransportEvents;
}
