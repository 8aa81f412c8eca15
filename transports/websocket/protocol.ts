/**
 * The WebSocket protocol of SPEC §5: zod schemas for everything a client may send, a single
 * parsing entry point that never throws, and builders for every server → client message.
 *
 * Parsing rules (decided here, SPEC §5 is silent):
 * - Text frames must be ≤ `limits.maxMessageBytes` UTF-8 bytes (else `message_too_large`), a
 *   JSON object (else `invalid_json` / `invalid_message`) with a string `type`.
 * - Unknown `type` → `unknown_type`; a known type with bad fields → `invalid_message` whose
 *   message lists every field problem (`text: expected string, received number; ...`).
 * - Unknown extra fields are ignored (stripped), for forward compatibility.
 * - `text.text` must be non-empty and at most `limits.maxTextChars` characters (UTF-16 code
 *   units, i.e. JS string length) → `text_too_long`. `is_final` defaults to true.
 * - Binary frames are microphone audio (16 kHz mono s16le): non-empty, even length (whole
 *   samples) → else `invalid_audio`; at most `limits.maxAudioBytes` → else `message_too_large`.
 */
import { z } from 'zod';
import type { ClientState } from '../../machines/session-machine.js';

// ---- limits -----------------------------------------------------------------------------------

export interface ProtocolLimits {
  /** Largest accepted JSON text frame, in UTF-8 bytes. */
  maxMessageBytes: number;
  /** Longest `text` field, in characters. */
  maxTextChars: number;
  /** Largest accepted binary (audio) frame, in bytes. */
  maxAudioBytes: number;
}

export const DEFAULT_PROTOCOL_LIMITS: ProtocolLimits = {
  maxMessageBytes: 64 * 1024,
  maxTextChars: 4000,
  // 1 s of 16 kHz s16le mono audio.
  maxAudioBytes: 32_000,
};

export function resolveLimits(limits: Partial<ProtocolLimits> = {}): ProtocolLimits {
  const out = { ...DEFAULT_PROTOCOL_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
  for (const [key, value] of Object.entries(out)) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`protocol limit ${key} must be a positive integer`);
  }
  return out;
}

// ---- client → server -----------------------------------------------------------------------

export const AUDIO_FORMATS = ['json', 'binary'] as const;
export type AudioFormat = (typeof AUDIO_FORMATS)[number];
export const CONTROL_COMMANDS = ['PAUSE', 'RESUME', 'STOP'] as const;
export type ClientControlCommand = (typeof CONTROL_COMMANDS)[number];
export const CLIENT_MESSAGE_TYPES = ['session_start', 'text', 'control', 'voices', 'session_end'] as const;
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

/** Session ids are echoed in logs and URLs: 1–128 chars of `[A-Za-z0-9._:-]`. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const sessionStartSchema = z.object({
  type: z.literal('session_start'),
  session_id: z.string().regex(SESSION_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -').optional(),
  voice: z.string().min(1).max(200).optional(),
  audio_format: z.enum(AUDIO_FORMATS).optional(),
});

export const controlSchema = z.object({
  type: z.literal('control'),
  command: z.enum(CONTROL_COMMANDS),
});

/** Extension (SPEC §5 is silent): asks for the voices the session may switch to. */
export const voicesRequestSchema = z.object({ type: z.literal('voices') });

/** Extension: the client ends its session; the server answers `session_end` and closes. */
export const sessionEndRequestSchema = z.object({ type: z.literal('session_end') });

/** The `text` schema for a given character limit. */
export function textSchema(maxTextChars: number) {
  return z.object({
    type: z.literal('text'),
    text: z.string().min(1, 'must not be empty').max(maxTextChars, `must be at most ${maxTextChars} characters`),
    is_final: z.boolean().default(true),
  });
}

export type SessionStartMessage = z.infer<typeof sessionStartSchema>;
export type ControlMessage = z.infer<typeof controlSchema>;
export type TextMessage = z.infer<ReturnType<typeof textSchema>>;
export type VoicesRequestMessage = z.infer<typeof voicesRequestSchema>;
export type SessionEndRequestMessage = z.infer<typeof sessionEndRequestSchema>;
export type ClientMessage = SessionStartMessage | TextMessage | ControlMessage | VoicesRequestMessage | SessionEndRequestMessage;

export const PROTOCOL_ERROR_CODES = [
  'invalid_json',
  'invalid_message',
  'unknown_type',
  'message_too_large',
  'invalid_audio',
  'text_too_long',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export interface ProtocolError {
  code: ProtocolErrorCode;
  message: string;
}

export type ParsedClientFrame =
  | { kind: 'message'; message: ClientMessage }
  | { kind: 'audio'; pcm: Buffer }
  | { kind: 'error'; error: ProtocolError };

const schemaCache = new Map<number, ReturnType<typeof textSchema>>();
function cachedTextSchema(maxTextChars: number): ReturnType<typeof textSchema> {
  let schema = schemaCache.get(maxTextChars);
  if (!schema) {
    schema = textSchema(maxTextChars);
    schemaCache.set(maxTextChars, schema);
  }
  return schema;
}

const fail = (code: ProtocolErrorCode, message: string): ParsedClientFrame => ({ kind: 'error', error: { code, message } });

function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => `${issue.path.length ? issue.path.map(String).join('.') : '(message)'}: ${issue.message}`)
    .join('; ');
}

/**
 * Validates one WebSocket frame from a client. Never throws: bad input becomes
 * `{kind:'error', error:{code, message}}`.
 */
export function parseClientMessage(
  data: string | Buffer | ArrayBuffer | Buffer[],
  isBinary: boolean,
  limits: Partial<ProtocolLimits> = {},
): ParsedClientFrame {
  const lim = resolveLimits(limits);
  const buf = toBuffer(data);
  if (isBinary) {
    if (buf.length > lim.maxAudioBytes) {
      return fail('message_too_large', `audio frame is ${buf.length} bytes; the limit is ${lim.maxAudioBytes}`);
    }
    if (buf.length === 0) return fail('invalid_audio', 'audio frame is empty');
    if (buf.length % 2 !== 0) {
      return fail('invalid_audio', `audio frame is ${buf.length} bytes; 16-bit PCM needs an even length`);
    }
    return { kind: 'audio', pcm: buf };
  }

  const bytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : buf.length;
  if (bytes > lim.maxMessageBytes) {
    return fail('message_too_large', `message is ${bytes} bytes; the limit is ${lim.maxMessageBytes}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : buf.toString('utf8'));
  } catch (error) {
    return fail('invalid_json', `not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('invalid_message', `expected a JSON object, got ${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value}`);
  }
  const type = (value as { type?: unknown }).type;
  if (type === undefined) return fail('invalid_message', 'type: required');
  if (typeof type !== 'string') return fail('invalid_message', `type: expected string, got ${typeof type}`);

  switch (type) {
    case 'session_start':
      return fromSafeParse(sessionStartSchema.safeParse(value));
    case 'control':
      return fromSafeParse(controlSchema.safeParse(value));
    case 'voices':
      return fromSafeParse(voicesRequestSchema.safeParse(value));
    case 'session_end':
      return fromSafeParse(sessionEndRequestSchema.safeParse(value));
    case 'text': {
      const result = cachedTextSchema(lim.maxTextChars).safeParse(value);
      if (!result.success) {
        const tooLong = result.error.issues.find((i) => i.code === 'too_big' && i.path.length === 1 && i.path[0] === 'text');
        if (tooLong) {
          const length = typeof (value as { text?: unknown }).text === 'string' ? (value as { text: string }).text.length : 0;
          return fail('text_too_long', `text is ${length} characters; the limit is ${lim.maxTextChars}`);
        }
      }
      return fromSafeParse(result);
    }
    default:
      return fail('unknown_type', `unknown message type "${type.slice(0, 64)}"; expected one of ${CLIENT_MESSAGE_TYPES.join(', ')}`);
  }
}

function fromSafeParse(
  result: { success: true; data: ClientMessage } | { success: false; error: z.ZodError },
): ParsedClientFrame {
  if (result.success) return { kind: 'message', message: result.data };
  return fail('invalid_message', formatIssues(result.error.issues));
}

function toBuffer(data: string | Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

// ---- server → client -----------------------------------------------------------------------

export const OUTPUT_SAMPLE_RATE = 48_000;
export const OUTPUT_FRAME_MS = 20;
export const OUTPUT_FRAME_BYTES = 1920;

/** Codes the server sends: the protocol's own plus server-side failures. */
export type ServerErrorCode = ProtocolErrorCode | 'internal_error' | 'worker_error' | 'session_id_in_use' | 'unknown_voice';

export interface ServerSessionStart {
  type: 'session_start';
  session_id: string;
}
export interface ServerAudio {
  type: 'audio';
  /** base64 of 1920 bytes of 48 kHz mono s16le. */
  pcm: string;
  sample_rate: typeof OUTPUT_SAMPLE_RATE;
  frame_ms: typeof OUTPUT_FRAME_MS;
  sequence: number;
}
export interface ServerState {
  type: 'state';
  state: ClientState;
}
export interface ServerVad {
  type: 'vad';
  speech: boolean;
}
export interface ServerDone {
  type: 'done';
  utterance_id?: string;
}
export interface ServerError {
  type: 'error';
  code: ServerErrorCode;
  message: string;
}
export interface ServerSessionEnd {
  type: 'session_end';
  session_id: string;
  reason: string;
}
/** One voice a session may switch to (`session_start` with `voice`). */
export interface VoiceInfo {
  id: string;
  language: string;
  /** Resident on some worker: switching to it pays no model load. */
  loaded: boolean;
}
export interface ServerVoices {
  type: 'voices';
  /** The session's voice now. */
  current: string;
  voices: VoiceInfo[];
}
export type ServerMessage =
  | ServerSessionStart
  | ServerAudio
  | ServerState
  | ServerVad
  | ServerDone
  | ServerError
  | ServerSessionEnd
  | ServerVoices;

export interface OutputFrame {
  pcm: Buffer;
  sequence: number;
}

export const sessionStartMessage = (sessionId: string): ServerSessionStart => ({ type: 'session_start', session_id: sessionId });

export function audioMessage(frame: OutputFrame): ServerAudio {
  assertOutputFrame(frame);
  return {
    type: 'audio',
    pcm: frame.pcm.toString('base64'),
    sample_rate: OUTPUT_SAMPLE_RATE,
    frame_ms: OUTPUT_FRAME_MS,
    sequence: frame.sequence,
  };
}

/** The wire form of an audio frame: JSON text, or the raw 1920 bytes when the session asked for binary. */
export function encodeAudioFrame(frame: OutputFrame, format: AudioFormat): string | Buffer {
  if (format === 'binary') {
    assertOutputFrame(frame);
    return frame.pcm;
  }
  return JSON.stringify(audioMessage(frame));
}

export const stateMessage = (state: ClientState): ServerState => ({ type: 'state', state });
export const vadMessage = (speech: boolean): ServerVad => ({ type: 'vad', speech });
export const doneMessage = (utteranceId?: string): ServerDone =>
  utteranceId === undefined ? { type: 'done' } : { type: 'done', utterance_id: utteranceId };
export const errorMessage = (code: ServerErrorCode, message: string): ServerError => ({ type: 'error', code, message });
export const protocolErrorMessage = (error: ProtocolError): ServerError => errorMessage(error.code, error.message);
export const sessionEndMessage = (sessionId: string, reason: string): ServerSessionEnd => ({
  type: 'session_end',
  session_id: sessionId,
  reason,
});

export const voicesMessage = (current: string, voices: VoiceInfo[]): ServerVoices => ({ type: 'voices', current, voices });

export const serializeServerMessage = (message: ServerMessage): string => JSON.stringify(message);

function assertOutputFrame(frame: OutputFrame): void {
  if (!Buffer.isBuffer(frame.pcm) || frame.pcm.length !== OUTPUT_FRAME_BYTES) {
    throw new RangeError(`audio frame must be ${OUTPUT_FRAME_BYTES} bytes, got ${Buffer.isBuffer(frame.pcm) ? frame.pcm.length : typeof frame.pcm}`);
  }
  if (!Number.isInteger(frame.sequence) || frame.sequence < 0) throw new RangeError(`bad audio sequence ${frame.sequence}`);
}
