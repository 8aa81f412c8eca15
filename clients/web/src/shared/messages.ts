/**
 * SPEC §5 messages as the page sends and receives them. The same JSON travels over the
 * WebSocket transport (text frames) and over LiveKit (reliable data packets, topic `duplex`).
 */
export type ControlCommand = 'PAUSE' | 'RESUME' | 'STOP';

export type ClientMessage =
  | { type: 'session_start'; session_id?: string; voice?: string; audio_format?: 'json' | 'binary' }
  | { type: 'text'; text: string; is_final: boolean }
  | { type: 'control'; command: ControlCommand }
  | { type: 'voices' };

/** One voice the workers offer, as the `voices` answer lists it. */
export interface VoiceInfo {
  id: string;
  language: string;
  loaded: boolean;
}

export type ServerMessage =
  | { type: 'session_start'; session_id: string }
  | { type: 'audio'; pcm: string; sample_rate: number; frame_ms: number; sequence: number }
  | { type: 'state'; state: string }
  | { type: 'vad'; speech: boolean }
  | { type: 'done'; utterance_id?: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'session_end'; session_id: string; reason: string }
  | { type: 'voices'; current: string; voices: VoiceInfo[] };

/** The LiveKit data-channel topic the JSON messages travel on. */
export const DATA_TOPIC = 'duplex';

const KNOWN = new Set(['session_start', 'audio', 'state', 'vad', 'done', 'error', 'session_end', 'voices']);

/** A server message from JSON text, or null for anything that is not one (ignored, logged). */
export function parseServerMessage(text: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const type = (value as { type?: unknown }).type;
  return typeof type === 'string' && KNOWN.has(type) ? (value as ServerMessage) : null;
}

/** `GET /api/client-config`: which transport the page uses. */
export interface ClientConfig {
  livekit: { url: string } | null;
  ws: { port: number; path: string; url?: string };
}

export const FALLBACK_CONFIG: ClientConfig = { livekit: null, ws: { port: 8080, path: '/' } };
