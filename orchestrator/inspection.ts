import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createSkyInspector, createWebSocketInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';

export const INSPECT_PATH = '/inspect';

/**
 * Live inspection of every session actor. The orchestrator serves a WebSocket hub at
 * `ws://<http host>:<http port>/inspect`; its own inspector (`@statelyai/inspect`'s WebSocket
 * inspector) publishes each session actor's inspection events there, and the hub relays them to
 * every other client: the Stately Inspector (`https://stately.ai/inspect?server=ws://localhost:8081/inspect`)
 * or our own tools. Audio never enters these events: session events carry text and VAD edge
 * times only, and `withoutAudio` drops any audio-looking field as a second guard.
 */
export function attachInspectionHub(server: Server): { close(): void; clients(): number } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const onUpgrade = (req: { url?: string }, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== INSPECT_PATH) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req as never, socket, head, (ws) => wss.emit('connection', ws));
  };
  server.on('upgrade', onUpgrade);
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      }
    });
  });
  return {
    clients: () => wss.clients.size,
    close: () => {
      server.off('upgrade', onUpgrade);
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}

const AUDIO_KEYS = new Set(['pcm', 'audio', 'samples']);

function stripAudio(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return '[binary omitted]';
  if (Array.isArray(value)) return value.map((v) => stripAudio(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = AUDIO_KEYS.has(k) ? '[audio omitted]' : stripAudio(v, depth + 1);
  return out;
}

export function withoutAudio(event: StatelyInspectionEvent): StatelyInspectionEvent {
  return stripAudio(event) as StatelyInspectionEvent;
}

export interface SessionInspector {
  inspect: (event: unknown) => void;
  stop(): void;
}

/** The publisher the session actors report to: our hub, and the Sky inspector if enabled. */
export function createSessionInspector(opts: { hubUrl: string; sky: boolean }): SessionInspector {
  const local = createWebSocketInspector({ url: opts.hubUrl, serialize: withoutAudio });
  const sky = opts.sky ? createSkyInspector({ serialize: withoutAudio, onerror: () => undefined }) : undefined;
  return {
    inspect: (event) => {
      local.inspect.next?.(event as never);
      sky?.inspect.next?.(event as never);
    },
    stop: () => {
      local.stop();
      sky?.stop();
    },
  };
}
