import { Server, ServerCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import type { WorkerConfig } from './config.js';
import { WorkerRegistration, workerAddr } from './discovery/registry.js';
import { TTSServiceService } from './grpc/generated/tts.js';
import { createTtsService } from './grpc/service.js';
import { buildHealthReport, createWorkerHttp } from './http.js';
import { createLogger, type Logger } from './logger.js';
import { WorkerMetrics } from './metrics.js';
import { ModelManager } from './models/model-manager.js';
import type { InferenceTuning } from './engine/piper-model.js';
import { SessionStore } from './sessions/session-store.js';

export interface RunningWorker {
  grpcPort: number;
  httpPort: number;
  sessions: SessionStore;
  models: ModelManager;
  metrics: WorkerMetrics;
  logger: Logger;
  /** Graceful: running syntheses end with a final marker, the registration is removed. */
  shutdown(reason?: string): Promise<void>;
}

export interface StartWorkerOptions {
  logger?: Logger;
  /** Prometheus process metrics; tests that start many workers in one process turn them off. */
  defaultMetrics?: boolean;
  models?: ModelManager;
  /** gRPC server interceptors (tests observe the calls the worker receives; none by default). */
  interceptors?: ServerInterceptor[];
  /** onnxruntime settings for every voice the worker loads (`inferenceTuningFor` at the entry points). */
  inference?: Partial<InferenceTuning>;
}

/** Starts the TTS worker: models (preloaded and warm), gRPC on `port`, HTTP on `http_port`, discovery. */
export async function startWorker(config: WorkerConfig, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const startedAt = Date.now();
  const logger = options.logger ?? createLogger('tts-worker', config.log_level);
  const metrics = new WorkerMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const mm = config.model_manager;
  const models =
    options.models ??
    new ModelManager({
      voicepacksDir: mm.voicepacks_dir,
      defaultModel: mm.default_model,
      preload: mm.preload.map((p) => (p === 'default' ? mm.default_model : p)),
      ttlSeconds: mm.ttl_seconds,
      minResidencySeconds: mm.min_residency_seconds,
      maxLoaded: mm.max_loaded,
      logger,
      ...(options.inference && { tuning: options.inference }),
      onLoad: (model, result) => metrics.modelLoads.inc({ model, result }),
    });
  await models.start();
  const sessions = new SessionStore(config.capabilities.max_concurrent_sessions);

  const server = new Server({
    'grpc.max_receive_message_length': 1024 * 1024,
    ...(options.interceptors && { interceptors: options.interceptors }),
  });
  server.addService(TTSServiceService, createTtsService({ config, models, sessions, metrics, logger }));
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.host}:${config.port}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );

  let registration: WorkerRegistration | undefined;
  if (config.redis_url) {
    registration = new WorkerRegistration({
      redisUrl: config.redis_url,
      name: config.name,
      addr: workerAddr(config.advertise_host, grpcPort),
      capabilities: config.capabilities,
      defaultModel: mm.default_model,
      live: () => ({ resident_models: models.residentModels(), metrics: metrics.snapshot() }),
      logger,
    });
    await registration.start();
  }

  const http = createWorkerHttp({
    metrics,
    health: () =>
      buildHealthReport({
        name: config.name,
        startedAt,
        modelsLoaded: models.residentModels(),
        activeSessions: sessions.size,
        redis: registration ? registration.redisState : 'disabled',
      }),
  });
  await http.listen({ host: config.host, port: config.http_port });
  const httpPort = (http.server.address() as { port: number }).port;
  logger.info(
    { grpc: `grpc://${config.advertise_host}:${grpcPort}`, http: `http://${config.advertise_host}:${httpPort}`, models: models.residentModels(), discovery: config.redis_url ? 'redis' : 'off' },
    `TTS worker ${config.name} ready: gRPC ${config.advertise_host}:${grpcPort}, health http://${config.advertise_host}:${httpPort}/health`,
  );

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') => {
    shuttingDown ??= (async () => {
      logger.info({ reason }, 'Worker shutting down');
      for (const id of sessions.ids()) {
        const active = sessions.get(id).active;
        if (active) {
          active.stoppedByControl = true;
          active.stream.stop(); // each running Synthesize ends with its final marker
        }
      }
      await registration?.stop({ deregister: true });
      // Calls still collecting text are not tied to a synthesis; after a grace period they are cut.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      sessions.endAll();
      await http.close();
      await models.stop();
      logger.info('Worker stopped');
    })();
    return shuttingDown;
  };
  return { grpcPort, httpPort, sessions, models, metrics, logger, shutdown };
}
