import type { FastifyInstance } from 'fastify';

export const CLIENT_CONFIG_PATH = '/api/client-config';

export interface ClientConfigOptions {
  /** The LiveKit URL browsers connect to, or null with LiveKit off. */
  livekitUrl: string | null;
  /** The WebSocket port, read per request (it is known only once the server listens). */
  wsPort: () => number;
  /** `ws_public_url`: a path on the page's origin or an absolute URL; empty: host and port. */
  wsUrl?: string;
}

/**
 * Fastify plugin: `GET /api/client-config` tells the browser page which transport to use —
 * `{"livekit": {"url"} | null, "ws": {"port", "path": "/", "url"?}}`: LiveKit when configured,
 * else the WebSocket fallback; `url` (a path such as `/ws` on the page's own origin, or absolute)
 * when the browser must not dial the port itself, e.g. behind Caddy.
 */
export async function clientConfigRoute(app: FastifyInstance, opts: ClientConfigOptions): Promise<void> {
  app.get(CLIENT_CONFIG_PATH, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return {
      livekit: opts.livekitUrl ? { url: opts.livekitUrl } : null,
      ws: { port: opts.wsPort(), path: '/', ...(opts.wsUrl && { url: opts.wsUrl }) },
    };
  });
}
