/**
 * Orchestrator metrics (SPEC §8 figures as seen by the orchestrator), on a registry of its own
 * (never prom-client's global one, so several orchestrators in one process stay apart), served as
 * Prometheus text at `GET /metrics` by `metricsPlugin`.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS_MS = [5, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000];
const JITTER_BUCKETS_MS = [0.5, 1, 2, 3, 5, 8, 12, 20, 40, 80];

export interface OrchestratorMetrics {
  readonly registry: Registry;
  /** TEXT received → first frame of that utterance handed to the client (ms). */
  readonly firstAudioLatency: Histogram;
  /** VAD speech-start edge → last frame sent to the client before the hold (ms; 0 if none). */
  readonly bargeInLatency: Histogram;
  /** Per-frame pacer send jitter (ms). */
  readonly outputJitter: Histogram;
  readonly underruns: Counter;
  readonly activeSessions: Gauge;
  readonly transitions: Counter<'from' | 'to' | 'event'>;
}

export function createOrchestratorMetrics(): OrchestratorMetrics {
  const registry = new Registry();
  return {
    registry,
    firstAudioLatency: new Histogram({
      name: 'orch_first_audio_latency_ms',
      help: 'Text received to the first audio frame sent to the client, in milliseconds',
      buckets: LATENCY_BUCKETS_MS,
      registers: [registry],
    }),
    bargeInLatency: new Histogram({
      name: 'orch_barge_in_latency_ms',
      help: 'VAD speech-start edge to the last audio frame sent to the client before the hold, in milliseconds',
      buckets: LATENCY_BUCKETS_MS,
      registers: [registry],
    }),
    outputJitter: new Histogram({
      name: 'orch_output_jitter_ms',
      help: 'Per-frame deviation of the pacer send time from its ideal 20 ms cadence, in milliseconds',
      buckets: JITTER_BUCKETS_MS,
      registers: [registry],
    }),
    underruns: new Counter({
      name: 'orch_underruns_total',
      help: 'Output underruns: the client playout buffer would have run dry mid-utterance',
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'orch_active_sessions',
      help: 'Client sessions currently connected',
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'orch_transitions_total',
      help: 'Session state changes as the client sees them, by previous state, next state and event',
      labelNames: ['from', 'to', 'event'] as const,
      registers: [registry],
    }),
  };
}

/** Fastify plugin: `GET /metrics` in the Prometheus text format. */
export async function metricsPlugin(app: FastifyInstance, opts: { metrics: OrchestratorMetrics }): Promise<void> {
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.header('content-type', opts.metrics.registry.contentType).send(body);
  });
}
