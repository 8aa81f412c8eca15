/**
 * SPEC §5's JSON messages over LiveKit data packets: reliable, topic `duplex`, UTF-8 JSON, one
 * message per packet, both ways. Audio never travels here (it has its own tracks).
 */
import { parseClientMessage, serializeServerMessage, type ParsedClientFrame, type ProtocolLimits, type ServerMessage } from '../websocket/protocol.js';

export const DATA_TOPIC = 'duplex';

export function encodeServerPacket(message: ServerMessage): Uint8Array {
  return new TextEncoder().encode(serializeServerMessage(message));
}

/** Parsed exactly as a WebSocket text frame; never throws. */
export function decodeClientPacket(payload: Uint8Array, limits?: Partial<ProtocolLimits>): ParsedClientFrame {
  return parseClientMessage(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), false, limits);
}
