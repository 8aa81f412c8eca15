import Fastify, { type FastifyInstance } from 'fastify';
import { StaticDiscovery, RedisDiscovery, type WorkerDiscovery } from '../actors/synthesis/discovery.js';
import { WorkerClient } from '../actors/synthesis/worker-client.js';
import { StreamingVad } from '../actors/vad/detector.js';
import type { BargeInPolicy } from '../machines/session-machine.js';
import { clientStateOf } from '../machines/session-machine.js';
import { startWsServer, type WsServer } from '../transports/websocket/server.js';
import { createLogger, type Logger } from '../workers/tts/logger.js';
import { createOrchestratorMetrics, metricsPlugin, type OrchestratorMetrics } from './metrics.js';
import { attachInspectionHub, createSessionInspector, INSPECT_PATH, type SessionInspector } from './inspection.js';
import { loadOrchestratorConfig } from './config.js';
import { SessionRuntime } from './session-runtime.js';

export interface OrchestratorConfig {
  host: string;
  wsPort: number;
  httpPort: number;
  redisUrl: string | null;
  staticWorkers: string[];
  voice: string;
  language: string;
  bargeInPolicy: BargeInPolicy;
  shortInterjectionMs?: number;
  maxBargeInMs?: number;
  leadMs: number;
  logLevel: string;
  /** Live inspection hub at ws://<http>/inspect (INSPECT=0 turns it off). */
  inspection: boolean;
  /** Also publish to the Stately Sky inspector (INSPECT_SKY=1; needs internet). */
  inspectSky: boolean;
}

/** The orchestrator's settings: `configs/orchestrator.yaml` (or ORCHESTRATOR_CONFIG) and the environment. */
export function orchestratorConfigFromEnv(env: NodeJS.ProcessEnv = process.env, path?: string): OrchestratorConfig {
  const c = loadOrchestratorConfig(path, env);
  return {
    host: c.host,
    wsPort: c.ws_port,
    httpPort: c.http_port,
    redisUrl: c.redis_url,
    staticWorkers: c.static_workers,
    voice: c.voice,
    language: c.language,
    bargeInPolicy: c.barge_in.policy,
    shortInterjectionMs: c.barge_in.short_interjection_ms,
    maxBargeInMs: c.barge_in.max_barged_in_ms,
    leadMs: c.pacer.lead_ms,
    logLevel: c.log_level,
    inspection: c.inspection.enabled,
    inspectSky: c.inspection.sky,
  };
}

export interface RunningOrchestrator {
  ws: WsServer;
  http: FastifyInstance;
  sessions: Map<string, { runtime: SessionRuntime; since: number }>;
  metrics: OrchestratorMetrics;
  shutdown(): Promise<void>;
}

export async function startOrchestrator(config: OrchestratorConfig, logger: Logger = createLogger('orchestrator', config.logLevel)): Promise<RunningOrchestrator> {
  const discovery: WorkerDiscovery = config.redisUrl
    ? new RedisDiscovery(config.redisUrl)
    : new StaticDiscovery(
        config.staticWorkers.map((addr, i) => ({
          name: `static${i}`,
          addr,
          languages: [],
          residentModels: [config.voice],
          defaultModel: config.voice,
          activeSessions: 0,
          maxSessions: Number.MAX_SAFE_INTEGER,
        })),
      );
  const clients = new Map<string, WorkerClient>();
  const clientFor = (addr: string) => {
    let c = clients.get(addr);
    if (!c) {
      c = new WorkerClient(addr);
      clients.set(addr, c);
    }
    return c;
  };
  const sessions = new Map<string, { runtime: SessionRuntime; since: number }>();
  let inspector: SessionInspector | undefined;
  const metrics = createOrchestratorMetrics();
  const ws = await startWsServer({
    host: config.host,
    port: config.wsPort,
    sessionFactory: (conn) => {
      const runtime = new SessionRuntime({
        conn,
        discovery,
        clients: clientFor,
        voice: config.voice,
        language: config.language,
        machineInput: { bargeInPolicy: config.bargeInPolicy, shortInterjectionMs: config.shortInterjectionMs, maxBargeInMs: config.maxBargeInMs },
        createVad: () => StreamingVad.create(),
        leadMs: config.leadMs,
        log: logger.child({ session: conn.sessionId }),
        ...(inspector && { inspect: inspector.inspect }),
        metrics,
      });
      const id = conn.sessionId;
      sessions.set(id, { runtime, since: Date.now() });
      metrics.activeSessions.inc();
      return {
        onMessage: (m) => runtime.onMessage(m),
        onAudio: (pcm) => runtime.onAudio(pcm),
        onClose: () => {
          runtime.onClose();
          sessions.delete(id);
          metrics.activeSessions.dec();
        },
      };
    },
  });

  const http = Fastify({ logger: false });
  http.get('/health', async () => ({ status: 'ok', sessions: sessions.size }));
  http.get('/ready', async (_req, reply) => {
    const workers = await discovery.list().catch(() => []);
    if (workers.length === 0) return reply.code(503).send({ ready: false, reason: 'no TTS worker known' });
    return { ready: true, workers: workers.map((w) => w.addr) };
  });
  http.get('/sessions', async () =>
    [...sessions.entries()].map(([id, s]) => ({ id, state: clientStateOf(s.runtime.actor.getSnapshot().value), since: new Date(s.since).toISOString() })),
  );
  await http.register(metricsPlugin, { metrics });
  await http.listen({ host: config.host, port: config.httpPort });
  const httpPort = (http.server.address() as { port: number }).port;
  const hub = config.inspection ? attachInspectionHub(http.server) : undefined;
  if (hub) inspector = createSessionInspector({ hubUrl: `ws://127.0.0.1:${httpPort}${INSPECT_PATH}`, sky: config.inspectSky });
  logger.info(
    { ws: `ws://localhost:${ws.port}`, http: `http://localhost:${httpPort}` },
    `Orchestrator ready: WebSocket ws://localhost:${ws.port}, HTTP http://localhost:${httpPort}/health` +
      (hub ? `, live inspection ws://localhost:${httpPort}${INSPECT_PATH}` : ''),
  );
  return {
    ws,
    http,
    sessions,
    metrics,
    shutdown: async () => {
      await ws.close('server shutting down');
      inspector?.stop();
      hub?.close();
      await http.close();
      for (const c of clients.values()) c.close();
      await discovery.close();
    },
  };
}
