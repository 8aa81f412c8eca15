import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { statusRoutes, type SessionSummary, type StatusRoutesOptions } from '../../orchestrator/status-routes.js';

async function app(opts: Partial<StatusRoutesOptions>) {
  const a = Fastify();
  await a.register(statusRoutes, { sessionCount: () => 0, sessions: () => [], workers: async () => [], ...opts });
  return a;
}

describe('orchestrator status routes', () => {
  it('GET /health: ok with the session count', async () => {
    const res = await (await app({ sessionCount: () => 3 })).inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', sessions: 3 });
  });

  it('GET /ready: 200 with the workers, 503 with none or when discovery fails', async () => {
    const ok = await (await app({ workers: async () => ['grpc://a:7001'] })).inject({ url: '/ready' });
    expect([ok.statusCode, ok.json()]).toEqual([200, { ready: true, workers: ['grpc://a:7001'] }]);
    const none = await (await app({})).inject({ url: '/ready' });
    expect([none.statusCode, none.json()]).toEqual([503, { ready: false, reason: 'no TTS worker known' }]);
    const down = await (await app({ workers: () => Promise.reject(new Error('redis down')) })).inject({ url: '/ready' });
    expect([down.statusCode, down.json()]).toEqual([503, { ready: false, reason: 'no TTS worker known' }]);
  });

  it('GET /sessions: the listed fields only', async () => {
    const session = { id: 's1', state: 'SPEAKING', since: '2026-11-22T00:00:00.000Z', transport: 'livekit', room: 'r', identity: 'u', actor: 'x:1' };
    const leaky = { ...session, secret: 'token' } as SessionSummary;
    const res = await (await app({ sessions: () => [leaky] })).inject({ url: '/sessions' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual([session]);
  });
});
