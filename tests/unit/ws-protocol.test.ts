/**
 * WebSocket protocol layer (SPEC §5): client message validation with every error code, and the
 * server → client builders.
 */
import { describe, expect, it } from 'vitest';
import {
  audioMessage,
  DEFAULT_PROTOCOL_LIMITS,
  doneMessage,
  encodeAudioFrame,
  errorMessage,
  parseClientMessage,
  PROTOCOL_ERROR_CODES,
  sessionEndMessage,
  sessionStartMessage,
  stateMessage,
  vadMessage,
} from '../../transports/websocket/protocol.js';
import type { ParsedClientFrame, ProtocolErrorCode, ProtocolLimits } from '../../transports/websocket/protocol.js';

const json = (value: unknown, limits?: Partial<ProtocolLimits>): ParsedClientFrame =>
  parseClientMessage(JSON.stringify(value), false, limits);

function errorOf(result: ParsedClientFrame): { code: ProtocolErrorCode; message: string } {
  if (result.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result.error;
}

describe('parseClientMessage: valid messages', () => {
  it('accepts session_start with and without options', () => {
    expect(json({ type: 'session_start' })).toEqual({ kind: 'message', message: { type: 'session_start' } });
    expect(json({ type: 'session_start', session_id: 'abc-1', voice: 'en_US-lessac-medium', audio_format: 'binary' })).toEqual({
      kind: 'message',
      message: { type: 'session_start', session_id: 'abc-1', voice: 'en_US-lessac-medium', audio_format: 'binary' },
    });
  });

  it('accepts text, defaulting is_final to true, and ignores unknown extra fields', () => {
    expect(json({ type: 'text', text: 'Hello.' })).toEqual({
      kind: 'message',
      message: { type: 'text', text: 'Hello.', is_final: true },
    });
    expect(json({ type: 'text', text: 'Hel', is_final: false, extra: 1 })).toEqual({
      kind: 'message',
      message: { type: 'text', text: 'Hel', is_final: false },
    });
  });

  it('accepts every control command', () => {
    for (const command of ['PAUSE', 'RESUME', 'STOP'] as const) {
      expect(json({ type: 'control', command })).toEqual({ kind: 'message', message: { type: 'control', command } });
    }
  });

  it('accepts text frames given as a Buffer', () => {
    const result = parseClientMessage(Buffer.from('{"type":"control","command":"STOP"}'), false);
    expect(result).toEqual({ kind: 'message', message: { type: 'control', command: 'STOP' } });
  });

  it('accepts even-length binary frames as 16 kHz audio', () => {
    const pcm = Buffer.alloc(640, 1);
    const result = parseClientMessage(pcm, true);
    expect(result.kind).toBe('audio');
    expect(result.kind === 'audio' && result.pcm.equals(pcm)).toBe(true);
  });
});

describe('parseClientMessage: errors', () => {
  it('invalid_json for malformed JSON', () => {
    expect(errorOf(parseClientMessage('{"type":"text",', false)).code).toBe('invalid_json');
    expect(errorOf(parseClientMessage('hello', false)).code).toBe('invalid_json');
  });

  it('invalid_message for JSON that is not an object or has no string type', () => {
    expect(errorOf(parseClientMessage('[1,2]', false))).toEqual({ code: 'invalid_message', message: 'expected a JSON object, got array' });
    expect(errorOf(parseClientMessage('null', false)).code).toBe('invalid_message');
    expect(errorOf(parseClientMessage('42', false)).code).toBe('invalid_message');
    expect(errorOf(json({ text: 'hi' }))).toEqual({ code: 'invalid_message', message: 'type: required' });
    expect(errorOf(json({ type: 7 })).code).toBe('invalid_message');
  });

  it('invalid_message lists every field problem', () => {
    const error = errorOf(json({ type: 'text', text: 5, is_final: 'yes' }));
    expect(error.code).toBe('invalid_message');
    expect(error.message).toMatch(/^text: .*; is_final: /);

    expect(errorOf(json({ type: 'text', text: '' }))).toEqual({ code: 'invalid_message', message: 'text: must not be empty' });
    expect(errorOf(json({ type: 'control', command: 'pause' })).message).toMatch(/^command: /);
    expect(errorOf(json({ type: 'control' })).message).toMatch(/^command: /);
    expect(errorOf(json({ type: 'session_start', audio_format: 'opus' })).message).toMatch(/^audio_format: /);
    expect(errorOf(json({ type: 'session_start', session_id: 'has space' })).message).toMatch(/^session_id: /);
  });

  it('unknown_type names the type and the known ones', () => {
    expect(errorOf(json({ type: 'dance' }))).toEqual({
      code: 'unknown_type',
      message: 'unknown message type "dance"; expected one of session_start, text, control, voices, session_end',
    });
  });

  it('voices and session_end requests (extensions) parse; extra fields are stripped', () => {
    expect(json({ type: 'voices', extra: 1 })).toEqual({ kind: 'message', message: { type: 'voices' } });
    expect(json({ type: 'session_end' })).toEqual({ kind: 'message', message: { type: 'session_end' } });
  });

  it('text_too_long above the configured character limit', () => {
    expect(json({ type: 'text', text: 'x'.repeat(10) }, { maxTextChars: 10 }).kind).toBe('message');
    expect(errorOf(json({ type: 'text', text: 'x'.repeat(11) }, { maxTextChars: 10 }))).toEqual({
      code: 'text_too_long',
      message: 'text is 11 characters; the limit is 10',
    });
  });

  it('message_too_large for huge text frames and oversized audio', () => {
    const huge = JSON.stringify({ type: 'text', text: 'x'.repeat(DEFAULT_PROTOCOL_LIMITS.maxMessageBytes) });
    expect(errorOf(parseClientMessage(huge, false)).code).toBe('message_too_large');
    expect(errorOf(parseClientMessage(Buffer.from(huge), false)).code).toBe('message_too_large');
    // Bytes, not characters: 100 × "é" is 200 UTF-8 bytes.
    expect(errorOf(parseClientMessage(JSON.stringify({ type: 'text', text: 'é'.repeat(100) }), false, { maxMessageBytes: 150 })).code).toBe(
      'message_too_large',
    );
    expect(errorOf(parseClientMessage(Buffer.alloc(1002), true, { maxAudioBytes: 1000 }))).toEqual({
      code: 'message_too_large',
      message: 'audio frame is 1002 bytes; the limit is 1000',
    });
  });

  it('invalid_audio for odd-length or empty binary frames', () => {
    expect(errorOf(parseClientMessage(Buffer.alloc(641), true))).toEqual({
      code: 'invalid_audio',
      message: 'audio frame is 641 bytes; 16-bit PCM needs an even length',
    });
    expect(errorOf(parseClientMessage(Buffer.alloc(0), true)).code).toBe('invalid_audio');
  });

  it('covers every protocol error code', () => {
    const seen = new Set<string>([
      errorOf(parseClientMessage('{', false)).code,
      errorOf(json({ type: 'text', text: 1 })).code,
      errorOf(json({ type: 'nope' })).code,
      errorOf(parseClientMessage('x'.repeat(70_000), false)).code,
      errorOf(parseClientMessage(Buffer.alloc(3), true)).code,
      errorOf(json({ type: 'text', text: 'abc' }, { maxTextChars: 2 })).code,
    ]);
    expect([...seen].sort()).toEqual([...PROTOCOL_ERROR_CODES].sort());
  });

  it('never throws, whatever it is given', () => {
    for (const input of ['', '{}', '{"type":null}', '{"type":"text","text":{}}', '\u0000', '"str"', 'true']) {
      expect(parseClientMessage(input, false).kind).toBe('error');
    }
  });
});

describe('server → client builders', () => {
  const pcm = Buffer.alloc(1920, 7);

  it('build each message of SPEC §5', () => {
    expect(sessionStartMessage('s1')).toEqual({ type: 'session_start', session_id: 's1' });
    expect(audioMessage({ pcm, sequence: 3 })).toEqual({
      type: 'audio',
      pcm: pcm.toString('base64'),
      sample_rate: 48000,
      frame_ms: 20,
      sequence: 3,
    });
    expect(stateMessage('BARGED_IN')).toEqual({ type: 'state', state: 'BARGED_IN' });
    expect(vadMessage(true)).toEqual({ type: 'vad', speech: true });
    expect(doneMessage()).toEqual({ type: 'done' });
    expect(doneMessage('u2')).toEqual({ type: 'done', utterance_id: 'u2' });
    expect(errorMessage('internal_error', 'boom')).toEqual({ type: 'error', code: 'internal_error', message: 'boom' });
    expect(sessionEndMessage('s1', 'server_shutdown')).toEqual({ type: 'session_end', session_id: 's1', reason: 'server_shutdown' });
  });

  it('encode audio as JSON with base64 or as the raw binary frame', () => {
    const text = encodeAudioFrame({ pcm, sequence: 9 }, 'json');
    expect(typeof text).toBe('string');
    const decoded = JSON.parse(text as string) as { pcm: string; sequence: number };
    expect(Buffer.from(decoded.pcm, 'base64').equals(pcm)).toBe(true);
    expect(decoded.sequence).toBe(9);
    expect(encodeAudioFrame({ pcm, sequence: 9 }, 'binary')).toBe(pcm);
    expect(() => audioMessage({ pcm: Buffer.alloc(10), sequence: 1 })).toThrow(/1920 bytes/);
  });
});
