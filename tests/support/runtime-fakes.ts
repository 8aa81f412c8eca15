/** Stand-ins for a session runtime's client connection and worker discovery (unit seams). */
import type { WorkerDiscovery } from '../../actors/synthesis/discovery.js';
import type { ServerMessage } from '../../transports/websocket/protocol.js';
import type { ClientConnection } from '../../transports/websocket/server.js';

/** A client connection that records what the session sends; `onAudio` sees each audio frame. */
export function fakeConnection(onAudio: () => void = () => undefined): { conn: ClientConnection; sent: ServerMessage[] } {
  const sent: ServerMessage[] = [];
  const conn: ClientConnection = {
    sessionId: 's1',
    audioFormat: 'json',
    bufferedAmount: 0,
    isOpen: true,
    send: (m) => (sent.push(m), true),
    sendAudio: () => (onAudio(), true),
    close: () => undefined,
  };
  return { conn, sent };
}

/** Discovery that always knows one worker, `fake:1`, with voice `v` resident. */
export const oneFakeWorker: WorkerDiscovery = {
  list: async () => [{ name: 'w', addr: 'fake:1', languages: ['en_US'], residentModels: ['v'], defaultModel: 'v', activeSessions: 0, maxSessions: 10 }],
  close: async () => undefined,
};
