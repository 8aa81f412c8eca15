import type { FastifyInstance } from 'fastify';

/** One live session as `GET /sessions` lists it. */
export interface SessionSummary {
  id: string;
  /** SPEC §6 state as the client sees it. */
  state: string;
  /** ISO time the session started. */
  since: string;
  transport: string;
  room?: string;
  identity?: string;
  /** The actor's id in the inspection events: how the live view names a session. */
  actor: string;
}

export interface StatusRoutesOptions {
  sessionCount: () => number;
  sessions: () => SessionSummary[];
  /** Addresses of the TTS workers discovery knows now (may reject: Redis down). */
  workers: () => Promise<string[]>;
}

const sessionSchema = {
  type: 'object',
  required: ['id', 'state', 'since', 'transport', 'actor'],
  properties: {
    id: { type: 'string' },
    state: { type: 'string' },
    since: { type: 'string' },
    transport: { type: 'string' },
    room: { type: 'string' },
    identity: { type: 'string' },
    actor: { type: 'string' },
  },
} as const;

/**
 * Fastify plugin: the orchestrator's own status (SPEC §8). `GET /health`: the process serves
 * (the compose health check); `GET /ready`: at least one TTS worker is known (503 otherwise);
 * `GET /sessions`: the live sessions and their states. Response schemas make fastify serialize
 * exactly these fields, so nothing else of a session leaks out.
 */
export async function statusRoutes(app: FastifyInstance, opts: StatusRoutesOptions): Promise<void> {
  app.get(
    '/health',
    { schema: { response: { 200: { type: 'object', required: ['status', 'sessions'], properties: { status: { type: 'string' }, sessions: { type: 'integer' } } } } } },
    async () => ({ status: 'ok', sessions: opts.sessionCount() }),
  );
  app.get(
    '/ready',
    {
      schema: {
        response: {
          200: { type: 'object', required: ['ready', 'workers'], properties: { ready: { type: 'boolean' }, workers: { type: 'array', items: { type: 'string' } } } },
          503: { type: 'object', required: ['ready', 'reason'], properties: { ready: { type: 'boolean' }, reason: { type: 'string' } } },
        },
      },
    },
    async (_req, reply) => {
      const workers = await opts.workers().catch(() => []);
      if (workers.length === 0) return reply.code(503).send({ ready: false, reason: 'no TTS worker known' });
      return { ready: true, workers };
    },
  );
  app.get('/sessions', { schema: { response: { 200: { type: 'array', items: sessionSchema } } } }, async () => opts.sessions());
}
