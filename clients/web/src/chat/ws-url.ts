import type { ClientConfig } from '../shared/messages.js';

/** The parts of the page's `location` the address depends on. */
export interface PageLocation {
  search: string;
  protocol: string;
  host: string;
  hostname: string;
}

/**
 * Where the page opens the WebSocket transport: `?ws=` on the page; else the configured URL (a
 * path is on the page's own origin, as behind Caddy); else `/ws` on the page's origin under Vite's
 * dev server (which proxies it); else `ws://<page host>:<port><path>`.
 */
export function webSocketUrl(config: ClientConfig, location: PageLocation, viteDevServer = false): string {
  const override = new URLSearchParams(location.search).get('ws');
  if (override) return override;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (config.ws.url?.startsWith('/')) return `${scheme}//${location.host}${config.ws.url}`;
  if (config.ws.url) return config.ws.url;
  if (viteDevServer) return `${scheme}//${location.host}/ws`;
  return `${scheme}//${location.hostname}:${config.ws.port}${config.ws.path || '/'}`;
}
