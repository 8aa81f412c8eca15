import Fastify, { type FastifyInstance } from 'fastify';
import { TokenVerifier } from 'livekit-server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { liveKitTokenRoute, type LiveKitTokenRouteOptions } from '../../transports/livekit/token-route.js';

const KEYS = { apiKey: 'APItest', apiSecret: 'a-test-secret-that-is-long-enough-for-hs256' };

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function server(overrides: Partial<LiveKitTokenRouteOptions> = {}) {
  const ensured: [string, string][] = [];
  app = Fastify({ logger: false });
  await app.register(liveKitTokenRoute, {
    livekit: { publicUrl: 'wss://voice.example:8444', keys: KEYS },
    ensureAgent: async (room, identity) => {
      ensured.push([room, identity]);
    },
    ...overrides,
  });
  const post = (payload?: unknown, raw?: string) =>
    app!.inject({
      method: 'POST',
      url: '/api/livekit/token',
      ...(raw !== undefined ? { payload: raw, headers: { 'content-type': 'application/json' } } : payload !== undefined ? { payload: payload as object } : {}),
    });
  return { post, ensured };
}

describe('POST /api/livekit/token', () => {
  it('mints a 10-minute token for one room with exactly the grants a user needs', async () => {
    const { post, ensured } = await server();
    const res = await post({ identity: 'alice_1', room: 'kitchen-2' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { url: string; token: string; room: string; identity: string };
    expect(body).toMatchObject({ url: 'wss://voice.example:8444', room: 'kitchen-2', identity: 'alice_1' });
    expect(Object.keys(body).sort()).toEqual(['identity', 'room', 'token', 'url']);
    expect(ensured).toEqual([['kitchen-2', 'alice_1']]);

    const claims = await new TokenVerifier(KEYS.apiKey, KEYS.apiSecret).verify(body.token);
    expect(claims.sub).toBe('alice_1');
    expect(claims.iss).toBe(KEYS.apiKey);
    expect((claims.exp as number) - (claims.nbf as number)).toBe(600);
    expect(claims.video).toEqual({
      roomJoin: true,
      room: 'kitchen-2',
      canPublish: true,
      canPublishSources: ['microphone'],
      canSubscribe: true,
      canPublishData: true,
    });
    // Nothing else rides along: no admin, create, list, record, hidden, agent or SIP grants.
    expect(claims.sip).toBeUndefined();
    expect(claims.kind).not.toBe('agent');
    // Someone else's secret does not verify it.
    await expect(new TokenVerifier(KEYS.apiKey, 'another-secret-another-secret-another').verify(body.token)).rejects.toThrow();
  });

  it('generates the room and the identity when absent (no body, or an empty one)', async () => {
    const { post, ensured } = await server();
    for (const res of [await post(), await post({})]) {
      expect(res.statusCode).toBe(200);
      const body = res.json() as { room: string; identity: string };
      expect(body.room).toMatch(/^voice-[0-9a-f]{12}$/);
      expect(body.identity).toMatch(/^user-[0-9a-f]{12}$/);
    }
    expect(new Set(ensured.map(([room]) => room)).size).toBe(2);
  });

  it('ignores unknown fields', async () => {
    const { post } = await server();
    const res = await post({ room: 'r', admin: true });
    expect(res.statusCode).toBe(200);
  });

  it.each([
    ['an empty identity', { identity: '' }],
    ['an identity with spaces', { identity: 'bad name' }],
    ['a 65-character room', { room: 'r'.repeat(65) }],
    ['a numeric room (no coercion)', { room: 5 }],
    ['a null identity', { identity: null }],
    ['an array body', [1, 2]],
  ])('refuses %s with 400 invalid_request', async (_what, payload) => {
    const { post, ensured } = await server();
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
    expect(ensured).toEqual([]);
  });

  it('refuses malformed JSON with 400', async () => {
    const { post } = await server();
    const res = await post(undefined, '{"room":');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('answers 404 livekit_not_configured when LiveKit is off', async () => {
    const { post } = await server({ livekit: null });
    const res = await post({});
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'livekit_not_configured' });
  });

  it('answers 503 livekit_unavailable when the agent cannot join the room', async () => {
    const { post } = await server({
      ensureAgent: async () => {
        throw new Error('connection refused');
      },
    });
    const res = await post({ room: 'r' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'livekit_unavailable', message: expect.stringContaining('connection refused') });
  });
});
