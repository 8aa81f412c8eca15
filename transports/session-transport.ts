/**
 * The seam between a session and the transport that carries it. The session runtime
 * (orchestrator/session-runtime.ts) sees only these interfaces, so the same session machine,
 * pacer, VAD and synthesis actors serve a WebSocket client and a LiveKit room participant alike.
 *
 * Messages are SPEC §5's JSON messages whatever the transport: WebSocket text frames, or LiveKit
 * data packets. Audio goes the transport's own way (WebSocket frames, a WebRTC track).
 */
import type { ClientMessage, OutputFrame, ServerMessage } from './websocket/protocol.js';

export type TransportKind = 'websocket' | 'livekit';

/** What a session may do with its client. */
export interface ClientConnection {
  /** The session id in force. */
  readonly sessionId: string;
  readonly isOpen: boolean;
  /** Sends a JSON message; false when the connection is no longer open. */
  send(message: ServerMessage): boolean;
  /** Sends one 1920-byte 48 kHz frame (SPEC §3); false when closed. */
  sendAudio(frame: OutputFrame): boolean;
  /** Sends `session_end` with `reason` and ends the session's connection. */
  close(reason: string): void;
  /**
   * Transports that buffer audio after the session's pacer (LiveKit's AudioSource queue) drop that
   * buffer at once on a hold, so nothing queued plays after it, and keep the frames not yet
   * played for `resumeAudio()`. Transports whose frames are gone once sent (WebSocket) omit these.
   */
  holdAudio?(): void;
  /** Sends the frames `holdAudio()` kept, ahead of anything newer (resume at the paused sample). */
  resumeAudio?(): void;
  /** Drops the buffer at once and whatever `holdAudio()` kept (STOP). */
  clearAudio?(): void;
}

/** Reported when a transport's send buffer grows past its threshold. */
export interface BackpressureInfo {
  sessionId: string;
  bufferedAmount: number;
  threshold: number;
}

/** A session as the transport sees it. Handlers may be async; failures become `internal_error`. */
export interface SessionHandle {
  onMessage(message: ClientMessage): void | Promise<void>;
  /** The user's microphone: 16 kHz mono s16le PCM, any length. */
  onAudio(pcm: Buffer): void | Promise<void>;
  onClose(): void;
  onBackpressure?(info: BackpressureInfo): void;
}

export type SessionFactory<C extends ClientConnection = ClientConnection> = (conn: C) => SessionHandle;
