import type { FastifyInstance } from 'fastify';

export const CLIENT_CONFIG_PATH = '/api/client-config';

export interface ClientConfigOptions {
  /** The LiveKit URL browsers connect to, or null with LiveKit off. */
  livekitUrl: string | null;
  /** The WebSocket port, read per request (it is known only once the server listens). */
  wsPort: () => number;
}

/**
 * Fastify plugin: `GET /api/client-config` tells the browser page which transport to use —
 * `{"livekit": {"url"} | null, "ws": {"port", "path": "/"}}`: LiveKit when configured, else the
 * WebSocket fallback.
 */
export async function clientConfigRoute(app: FastifyInstance, opts: ClientConfigOptions): Promise<void> {
  app.get(CLIENT_CONFIG_PATH, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { livekit: opts.livekitUrl ? { url: opts.livekitUrl } : null, ws: { port: opts.wsPort(), path: '/' } };
  });
}
