import Fastify, { type FastifyInstance } from 'fastify';
import { StaticDiscovery, RedisDiscovery, type WorkerDiscovery } from '../actors/synthesis/discovery.js';
import { WorkerClient } from '../actors/synthesis/worker-client.js';
import { LoadAwareDiscovery, WorkerLoadTracker } from '../actors/synthesis/worker-load.js';
import { StreamingVad } from '../actors/vad/detector.js';
import type { BargeInPolicy } from '../machines/session-machine.js';
import { clientStateOf } from '../machines/session-machine.js';
import { startWsServer, type WsServer } from '../transports/websocket/server.js';
import { createLogger, type Logger } from '../workers/tts/logger.js';
import { createOrchestratorMetrics, metricsPlugin, type OrchestratorMetrics } from './metrics.js';
import { attachInspectionHub, createSessionInspector, INSPECT_PATH, type SessionInspector } from './inspection.js';
import { loadOrchestratorConfig } from './config.js';
import { SessionRuntime } from './session-runtime.js';
import type { ClientConnection, SessionHandle, TransportKind } from '../transports/session-transport.js';
import { LiveKitAgents } from '../transports/livekit/agents.js';
import type { LiveKitSessionHandle } from '../transports/livekit/agent-room.js';
import { assertLiveKitSettings, type LiveKitSettings } from '../transports/livekit/settings.js';
import { liveKitTokenRoute } from '../transports/livekit/token-route.js';
import { clientConfigRoute } from './client-config.js';
import { statusRoutes } from './status-routes.js';
import { webClientPlugin } from './web-client.js';

export interface OrchestratorConfig {
  host: string;
  wsPort: number;
  httpPort: number;
  /** What `/api/client-config` tells browsers about the WebSocket (see configs/orchestrator.yaml). */
  wsPublicUrl?: string;
  redisUrl: string | null;
  staticWorkers: string[];
  voice: string;
  language: string;
  bargeInPolicy: BargeInPolicy;
  shortInterjectionMs?: number;
  maxBargeInMs?: number;
  /** How long a session avoids a worker whose stream failed (default 5000 ms). */
  failedWorkerRetryMs?: number;
  /** Sessions synthesise the next utterance while the current one drains (default true; see SessionRuntimeDeps). */
  reportSynthesized?: boolean;
  leadMs: number;
  logLevel: string;
  /** Live inspection hub at ws://<http>/inspect (INSPECT=0 turns it off). */
  inspection: boolean;
  /** Also publish to the Stately Sky inspector (INSPECT_SKY=1; needs internet). */
  inspectSky: boolean;
  /** WebRTC via LiveKit; null or absent: off (browsers use the WebSocket transport). */
  livekit?: LiveKitSettings | null;
  /** The built browser client served at `/` (default: clients/web/dist). */
  webDir?: string;
  /** SCHED_FIFO priority its entry point asks for (0 = none); see platform/realtime-priority.ts. */
  realtimePriority?: number;
}

/** The orchestrator's settings: `configs/orchestrator.yaml` (or ORCHESTRATOR_CONFIG) and the environment. */
export function orchestratorConfigFromEnv(env: NodeJS.ProcessEnv = process.env, path?: string): OrchestratorConfig {
  const c = loadOrchestratorConfig(path, env);
  return {
    host: c.host,
    wsPort: c.ws_port,
    httpPort: c.http_port,
    wsPublicUrl: c.ws_public_url,
    redisUrl: c.redis_url,
    staticWorkers: c.static_workers,
    voice: c.voice,
    language: c.language,
    bargeInPolicy: c.barge_in.policy,
    shortInterjectionMs: c.barge_in.short_interjection_ms,
    maxBargeInMs: c.barge_in.max_barged_in_ms,
    leadMs: c.pacer.lead_ms,
    logLevel: c.log_level,
    realtimePriority: c.realtime_priority,
    inspection: c.inspection.enabled,
    inspectSky: c.inspection.sky,
    livekit: c.livekit.url
      ? {
          url: c.livekit.url,
          publicUrl: c.livekit.public_url || c.livekit.url,
          apiKey: c.livekit.api_key,
          apiSecret: c.livekit.api_secret,
          devMode: c.livekit.dev_mode,
          agentIdentity: c.livekit.agent_identity,
          idleTimeoutMs: c.livekit.idle_timeout_ms,
        }
      : null,
  };
}

export interface SessionEntry {
  runtime: SessionRuntime;
  since: number;
  transport: TransportKind;
  /** LiveKit sessions: the room and the user's identity. */
  room?: string;
  identity?: string;
}

export interface RunningOrchestrator {
  ws: WsServer;
  http: FastifyInstance;
  sessions: Map<string, SessionEntry>;
  metrics: OrchestratorMetrics;
  /** The LiveKit agents, when LiveKit is configured. */
  livekit: LiveKitAgents | undefined;
  shutdown(): Promise<void>;
}

export async function startOrchestrator(config: OrchestratorConfig, logger: Logger = createLogger('orchestrator', config.logLevel)): Promise<RunningOrchestrator> {
  // Loads and liveness as this orchestrator sees them, on top of what discovery reports
  // (actors/synthesis/worker-load.ts): new sessions spread over workers at once, and a worker
  // that just died is not chosen again while its record lingers in Redis.
  const workerLoad = new WorkerLoadTracker();
  const discovered: WorkerDiscovery = config.redisUrl
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
  const discovery = new LoadAwareDiscovery(discovered, workerLoad);
  const clients = new Map<string, WorkerClient>();
  const clientFor = (addr: string) => {
    let c = clients.get(addr);
    if (!c) {
      c = new WorkerClient(addr, workerLoad);
      clients.set(addr, c);
    }
    return c;
  };
  if (config.livekit) assertLiveKitSettings(config.livekit);
  const sessions = new Map<string, SessionEntry>();
  let inspector: SessionInspector | undefined;
  const metrics = createOrchestratorMetrics();
  /** One session runtime, whatever the transport: the same machine, pacer, VAD and synthesis. */
  const createSession = (conn: ClientConnection, transport: TransportKind, where: { room?: string; identity?: string } = {}): LiveKitSessionHandle => {
    const runtime = new SessionRuntime({
      conn,
      discovery,
      clients: clientFor,
      voice: config.voice,
      language: config.language,
      machineInput: { bargeInPolicy: config.bargeInPolicy, shortInterjectionMs: config.shortInterjectionMs, maxBargeInMs: config.maxBargeInMs },
      createVad: () => StreamingVad.create(),
      leadMs: config.leadMs,
      ...(config.failedWorkerRetryMs !== undefined && { failedWorkerRetryMs: config.failedWorkerRetryMs }),
      ...(config.reportSynthesized !== undefined && { reportSynthesized: config.reportSynthesized }),
      log: logger.child({ session: conn.sessionId, transport, ...where }),
      ...(inspector && { inspect: inspector.inspect }),
      metrics,
    });
    const id = conn.sessionId;
    sessions.set(id, { runtime, since: Date.now(), transport, ...where });
    metrics.activeSessions.inc();
    const handle: SessionHandle & LiveKitSessionHandle = {
      onMessage: (m) => runtime.onMessage(m),
      onAudio: (pcm) => runtime.onAudio(pcm),
      onClose: () => {
        runtime.onClose();
        sessions.delete(id);
        metrics.activeSessions.dec();
      },
      clientState: () => clientStateOf(runtime.actor.getSnapshot().value),
    };
    return handle;
  };
  const ws = await startWsServer({
    host: config.host,
    port: config.wsPort,
    sessionFactory: (conn) => createSession(conn, 'websocket'),
  });
  const livekit = config.livekit
    ? new LiveKitAgents({
        settings: config.livekit,
        sessionFactory: (conn) => createSession(conn, 'livekit', { room: conn.room, identity: conn.identity }),
        log: logger.child({ transport: 'livekit' }),
      })
    : undefined;

  const http = Fastify({ logger: false });
  await http.register(statusRoutes, {
    sessionCount: () => sessions.size,
    workers: async () => (await discovery.list()).map((w) => w.addr),
    sessions: () =>
      [...sessions.entries()].map(([id, s]) => ({
        id,
        state: clientStateOf(s.runtime.actor.getSnapshot().value),
        since: new Date(s.since).toISOString(),
        transport: s.transport,
        ...(s.room !== undefined && { room: s.room, identity: s.identity }),
        actor: s.runtime.actor.sessionId,
      })),
  });
  await http.register(metricsPlugin, { metrics });
  await http.register(clientConfigRoute, { livekitUrl: config.livekit?.publicUrl ?? null, wsPort: () => ws.port, wsUrl: config.wsPublicUrl ?? '' });
  await http.register(liveKitTokenRoute, {
    livekit: config.livekit ? { publicUrl: config.livekit.publicUrl, keys: { apiKey: config.livekit.apiKey, apiSecret: config.livekit.apiSecret } } : null,
    ensureAgent: async (room, identity) => {
      if (!livekit) throw new Error('LiveKit is not configured');
      await livekit.ensure(room, identity);
    },
    log: logger,
  });
  await http.register(webClientPlugin, { ...(config.webDir && { root: config.webDir }) });
  await http.listen({ host: config.host, port: config.httpPort });
  const httpPort = (http.server.address() as { port: number }).port;
  const hub = config.inspection ? attachInspectionHub(http.server) : undefined;
  if (hub) inspector = createSessionInspector({ hubUrl: `ws://127.0.0.1:${httpPort}${INSPECT_PATH}`, sky: config.inspectSky });
  logger.info(
    { ws: `ws://localhost:${ws.port}`, http: `http://localhost:${httpPort}` },
    `Orchestrator ready: WebSocket ws://localhost:${ws.port}, HTTP http://localhost:${httpPort}/health` +
      (hub ? `, live inspection ws://localhost:${httpPort}${INSPECT_PATH}` : '') +
      (config.livekit ? `, LiveKit ${config.livekit.url} (browsers: ${config.livekit.publicUrl})` : ''),
  );
  return {
    ws,
    http,
    sessions,
    metrics,
    livekit,
    shutdown: async () => {
      await Promise.all([ws.close('server shutting down'), livekit?.close('server_shutdown')]);
      inspector?.stop();
      hub?.close();
      await http.close();
      for (const c of clients.values()) c.close();
      await discovery.close();
    },
  };
}
