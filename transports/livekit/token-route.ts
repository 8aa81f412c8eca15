/**
 * Fastify plugin: `POST /api/livekit/token` mints a browser's room token (SPEC §2, port 8081).
 *
 * Body (JSON, optional): `{"identity"?: string, "room"?: string}`, each 1-64 characters of
 * `A-Z a-z 0-9 _ -`; absent ones are generated (`user-<hex>`, `voice-<hex>`). Unknown fields are
 * ignored, as in the WebSocket protocol; wrong types are refused (no coercion: `{"room": 5}` is a
 * 400, not room "5").
 *
 * 200 `{"url", "token", "room", "identity"}` once an agent is in the room (so the user never
 * joins an empty room); 400 `{"error":"invalid_request","message"}` for a bad body; 404
 * `{"error":"livekit_not_configured"}` with LiveKit off; 503 `{"error":"livekit_unavailable"}` when
 * the agent cannot join (the LiveKit server is down or refuses the keys).
 */
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { NAME_PATTERN, randomName, userToken, type TokenKeys } from './token.js';

export const TOKEN_PATH = '/api/livekit/token';

export interface LiveKitTokenRouteOptions {
  /** Null when LiveKit is not configured. */
  livekit: { publicUrl: string; keys: TokenKeys } | null;
  /** Makes sure an agent is in `room` and expects `identity`; rejects when it cannot join. */
  ensureAgent(room: string, identity: string): Promise<void>;
  log?: { warn(o: object, m?: string): void };
}

interface TokenBody {
  identity?: string;
  room?: string;
}

const name = { type: 'string', pattern: NAME_PATTERN.source } as const;
const schema: FastifySchema = {
  body: { type: 'object', properties: { identity: name, room: name } },
  response: {
    200: {
      type: 'object',
      required: ['url', 'token', 'room', 'identity'],
      properties: { url: { type: 'string' }, token: { type: 'string' }, room: { type: 'string' }, identity: { type: 'string' } },
    },
  },
};

// Fastify's shared validator coerces types ("5" for 5) and may be configured by other plugins;
// this route keeps its own strict one.
const ajv = new Ajv({ allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false });

export async function liveKitTokenRoute(app: FastifyInstance, opts: LiveKitTokenRouteOptions): Promise<void> {
  app.setValidatorCompiler(({ schema: s }) => ajv.compile(s));
  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number }, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'invalid_request', message: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: 'invalid_request', message: err.message });
    }
    opts.log?.warn({ err: err.message }, 'token endpoint failed');
    return reply.code(500).send({ error: 'internal_error', message: 'could not mint a token' });
  });
  // No body (or an empty one) means "generate both".
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined || req.body === null) req.body = {};
  });

  app.post<{ Body: TokenBody }>(TOKEN_PATH, { schema }, async (req, reply) => {
    const lk = opts.livekit;
    if (!lk) return reply.code(404).send({ error: 'livekit_not_configured' });
    const room = req.body.room ?? randomName('voice');
    const identity = req.body.identity ?? randomName('user');
    try {
      await opts.ensureAgent(room, identity);
    } catch (err) {
      opts.log?.warn({ err: (err as Error).message, room }, 'agent could not join the room');
      return reply.code(503).send({ error: 'livekit_unavailable', message: `the voice agent could not join room ${room}: ${(err as Error).message}` });
    }
    const token = await userToken(lk.keys, room, identity);
    return { url: lk.publicUrl, token, room, identity };
  });
}
