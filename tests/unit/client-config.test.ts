import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { webSocketUrl } from '../../clients/web/src/chat/ws-url.js';
import { FALLBACK_CONFIG, type ClientConfig } from '../../clients/web/src/shared/messages.js';
import { clientConfigRoute } from '../../orchestrator/client-config.js';

async function served(opts: { livekitUrl: string | null; wsUrl?: string }): Promise<ClientConfig> {
  const app = Fastify();
  await app.register(clientConfigRoute, { ...opts, wsPort: () => 8080 });
  const res = await app.inject({ method: 'GET', url: '/api/client-config' });
  await app.close();
  expect(res.statusCode).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  return res.json();
}

const page = (href: string) => {
  const u = new URL(href);
  return { search: u.search, protocol: u.protocol, host: u.host, hostname: u.hostname };
};

describe('GET /api/client-config and the page\'s WebSocket address', () => {
  it('embedded default: the page dials the WebSocket port on its own host', async () => {
    const config = await served({ livekitUrl: null });
    expect(config).toEqual({ livekit: null, ws: { port: 8080, path: '/' } });
    expect(webSocketUrl(config, page('http://192.168.1.5:8081/'))).toBe('ws://192.168.1.5:8080/');
  });

  it('behind Caddy (ws_public_url /ws): the page\'s own origin, wss:// for an https page', async () => {
    const config = await served({ livekitUrl: 'wss://voice.example:8444', wsUrl: '/ws' });
    expect(config).toEqual({ livekit: { url: 'wss://voice.example:8444' }, ws: { port: 8080, path: '/', url: '/ws' } });
    expect(webSocketUrl(config, page('https://voice.example:8443/'))).toBe('wss://voice.example:8443/ws');
    expect(webSocketUrl(config, page('http://localhost:8081/'))).toBe('ws://localhost:8081/ws');
  });

  it('an absolute ws_public_url as given; ?ws= on the page wins over everything', async () => {
    const config = await served({ livekitUrl: null, wsUrl: 'wss://ws.voice.example/' });
    expect(webSocketUrl(config, page('https://voice.example/'))).toBe('wss://ws.voice.example/');
    expect(webSocketUrl(config, page('https://voice.example/?ws=ws://127.0.0.1:9000/'))).toBe('ws://127.0.0.1:9000/');
    expect(webSocketUrl(FALLBACK_CONFIG, page('http://localhost:8081/'))).toBe('ws://localhost:8080/');
    expect(webSocketUrl(FALLBACK_CONFIG, page('http://localhost:5173/'), true)).toBe('ws://localhost:5173/ws');
  });
});
