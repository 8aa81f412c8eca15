import { FALLBACK_CONFIG, type ClientConfig } from '../shared/messages.js';

/**
 * `GET /api/client-config`: LiveKit when the orchestrator has a LiveKit server, else the
 * WebSocket transport. An orchestrator without the endpoint (404) means WebSocket on 8080.
 */
export async function fetchClientConfig(): Promise<ClientConfig> {
  const res = await fetch('api/client-config', { headers: { accept: 'application/json' } });
  if (res.status === 404) return FALLBACK_CONFIG;
  if (!res.ok) throw new Error(`client config: ${res.status} ${res.statusText}`);
  const body = (await res.json()) as Partial<ClientConfig>;
  return {
    livekit: body.livekit?.url ? { url: body.livekit.url } : null,
    ws: { ...FALLBACK_CONFIG.ws, ...body.ws },
  };
}
