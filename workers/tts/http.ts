import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { WorkerMetrics } from './metrics.js';

export type RedisState = 'connected' | 'disconnected' | 'disabled';

export interface HealthReport {
  /** `degraded`: still serving synthesis, but something an operator should look at (see `buildHealthReport`). */
  status: 'ok' | 'degraded';
  name: string;
  uptime_s: number;
  models_loaded: string[];
  active_sessions: number;
  redis: RedisState;
}

export type HealthProvider = () => HealthReport | Promise<HealthReport>;

/**
 * Fills in `status` and `uptime_s`: degraded when no model is resident (the next request pays a
 * cold load) or Redis is configured but unreachable (the orchestrator cannot discover this worker).
 */
export function buildHealthReport(input: {
  name: string;
  startedAt: number;
  modelsLoaded: readonly string[];
  activeSessions: number;
  redis: RedisState;
  now?: number;
}): HealthReport {
  const degraded = input.modelsLoaded.length === 0 || input.redis === 'disconnected';
  return {
    status: degraded ? 'degraded' : 'ok',
    name: input.name,
    uptime_s: Math.max(0, Math.round(((input.now ?? Date.now()) - input.startedAt) / 1000)),
    models_loaded: [...input.modelsLoaded],
    active_sessions: input.activeSessions,
    redis: input.redis,
  };
}

/**
 * `/health`. Degraded still answers 200: the worker is alive and synthesizing, and a container
 * healthcheck must not restart it because Redis is away. The body carries the detail.
 */
export const healthPlugin: FastifyPluginAsync<{ health: HealthProvider }> = async (app, { health }) => {
  app.get('/health', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return health();
  });
};

/** `/metrics`: Prometheus text format from the worker's own registry. */
export const metricsPlugin: FastifyPluginAsync<{ metrics: WorkerMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.contentType).header('cache-control', 'no-store');
    return metrics.text();
  });
};

export interface WorkerHttpOptions {
  metrics: WorkerMetrics;
  health: HealthProvider;
  /** Fastify's own errors go here (e.g. a throwing health provider); off when omitted. */
  logger?: FastifyBaseLogger;
}

/** The worker's HTTP app (SPEC §2, port 9090). Not listening: the caller decides where and when. */
export function createWorkerHttp(options: WorkerHttpOptions): FastifyInstance {
  // Prometheus scrapes every few seconds; a log line per request would drown the useful ones.
  const app: FastifyInstance = options.logger
    ? Fastify({ loggerInstance: options.logger, disableRequestLogging: true })
    : Fastify({ logger: false });
  void app.register(healthPlugin, { health: options.health });
  void app.register(metricsPlugin, { metrics: options.metrics });
  return app;
}
