import { Redis } from 'ioredis';
import type { WorkerCapabilities, WorkerConfig } from '../config.js';

/** SPEC §7: the orchestrator scans `worker:*`. */
export const WORKER_KEY_PREFIX = 'worker:';
export const workerKey = (name: string): string => `${WORKER_KEY_PREFIX}${name}`;

/** `grpc://host:port`, bracketing IPv6 literals so the port stays unambiguous. */
export const workerAddr = (host: string, port: number): string => `grpc://${host.includes(':') ? `[${host}]` : host}:${port}`;

/** What changes while the worker runs; read on every write so the record is never stale by more than one refresh. */
export interface LiveWorkerState {
  resident_models: string[];
  metrics: { active_sessions: number; rtf: number | null };
}

/** The JSON value of `worker:<name>` (SPEC §7). */
export interface WorkerRecord extends LiveWorkerState {
  name: string;
  addr: string;
  capabilities: WorkerCapabilities;
  default_model: string;
  /** ISO 8601 time of this write; lets a reader see how fresh the record is. */
  updated_at: string;
}

/** Just the calls used here, so tests can pass a recording stub and pino fits as-is. */
export interface RegistryLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface WorkerRegistrationOptions {
  redisUrl: string;
  name: string;
  addr: string;
  capabilities: WorkerCapabilities;
  defaultModel: string;
  live: () => LiveWorkerState;
  /** Key expiry (SPEC: 30 s): how long a crashed worker stays listed. */
  ttlSeconds?: number;
  /** Rewrite period (SPEC: 10 s); must be shorter than the TTL or the record would lapse between writes. */
  refreshMs?: number;
  /** Bounds how long `start()` waits for an unreachable Redis before carrying on without it. */
  connectTimeoutMs?: number;
  logger?: RegistryLogger;
}

const silentLogger: RegistryLogger = { info() {}, warn() {} };

/**
 * Publishes this worker in Redis and keeps the record fresh. Discovery is optional to the
 * worker's job: whatever Redis does, nothing here throws into the caller or stops synthesis.
 * During an outage one warning is logged; ioredis keeps reconnecting, and on `ready` the record
 * is written at once rather than at the next tick, so the worker reappears as soon as it can.
 */
export class WorkerRegistration {
  readonly key: string;
  private readonly ttlSeconds: number;
  private readonly refreshMs: number;
  private readonly logger: RegistryLogger;
  private readonly redis: Redis;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<boolean> | undefined;
  private started = false;
  private stopped = false;
  private inOutage = false;

  constructor(private readonly options: WorkerRegistrationOptions) {
    this.key = workerKey(options.name);
    this.ttlSeconds = options.ttlSeconds ?? 30;
    this.refreshMs = options.refreshMs ?? 10_000;
    this.logger = options.logger ?? silentLogger;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 1) throw new RangeError('ttlSeconds must be a positive integer');
    if (!(this.refreshMs > 0 && this.refreshMs < this.ttlSeconds * 1000)) throw new RangeError('refreshMs must be positive and shorter than the TTL');

    this.redis = new Redis(options.redisUrl, {
      lazyConnect: true, // connect in start(), not in a constructor that cannot report failure
      // Fail a command at once while disconnected instead of queueing it: a queued SET would
      // land late with stale data, and a queued DEL could stall shutdown.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: options.connectTimeoutMs ?? 2000,
      // Reconnect forever, backing off to 1 s: Redis restarts should be noticed quickly.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    });
    // Without an 'error' listener ioredis prints every failed reconnect attempt to stderr.
    this.redis.on('error', (err: Error) => this.noteOutage(err));
    this.redis.on('close', () => this.noteOutage(new Error('connection closed')));
    this.redis.on('ready', () => void this.refresh());
  }

  /** Builds a registration from the worker config, or null when discovery is disabled (`redis_url` empty). */
  static fromConfig(
    config: WorkerConfig,
    live: () => LiveWorkerState,
    extra: Pick<WorkerRegistrationOptions, 'logger' | 'ttlSeconds' | 'refreshMs' | 'connectTimeoutMs'> = {},
  ): WorkerRegistration | null {
    if (!config.redis_url) return null;
    return new WorkerRegistration({
      redisUrl: config.redis_url,
      name: config.name,
      addr: workerAddr(config.advertise_host, config.port),
      capabilities: config.capabilities,
      defaultModel: config.model_manager.default_model,
      live,
      ...extra,
    });
  }

  /** For `/health`. */
  get redisState(): 'connected' | 'disconnected' {
    return this.redis.status === 'ready' ? 'connected' : 'disconnected';
  }

  /** Connects and writes the record; resolves once the first attempt is over, whether or not Redis answered. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref(); // the gRPC server keeps the process alive, not this timer
    try {
      await this.redis.connect(); // 'ready' triggers the first write
    } catch (err) {
      this.noteOutage(err as Error); // ioredis goes on reconnecting by itself
    }
    await this.inflight;
  }

  /**
   * Writes the record now. Resolves true if Redis took it, false if not (never rejects).
   * Concurrent calls share one write, so a tick and a reconnect cannot race each other.
   */
  refresh(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    this.inflight ??= this.write().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /**
   * Stops refreshing and disconnects. With `deregister` (the default) the key is deleted first so
   * the orchestrator stops routing here at once; `deregister: false` leaves it to expire, as a
   * crash would. Best effort: resolves even if Redis is gone.
   */
  async stop(options: { deregister?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inflight; // a SET still in flight must not land after the DEL
    if (this.redis.status === 'ready') {
      if (options.deregister ?? true) await this.redis.del(this.key).catch(() => undefined);
      await this.redis.quit().catch(() => undefined);
    }
    this.redis.disconnect(); // also cancels a pending reconnect when Redis was down
  }

  private async write(): Promise<boolean> {
    if (this.redis.status !== 'ready') return false; // 'ready' will call us back
    let record: WorkerRecord;
    try {
      const live = this.options.live();
      record = {
        name: this.options.name,
        addr: this.options.addr,
        capabilities: this.options.capabilities,
        resident_models: live.resident_models,
        default_model: this.options.defaultModel,
        metrics: live.metrics,
        updated_at: new Date().toISOString(),
      };
    } catch (err) {
      this.logger.warn({ err }, 'discovery: reading live worker state failed; record not refreshed');
      return false;
    }
    try {
      await this.redis.set(this.key, JSON.stringify(record), 'EX', this.ttlSeconds);
    } catch (err) {
      this.noteOutage(err as Error);
      return false;
    }
    if (this.inOutage) {
      this.inOutage = false;
      this.logger.info({ key: this.key }, 'discovery: Redis is back; worker registered again');
    }
    return true;
  }

  /** One warning per outage; ioredis reports each failed reconnect attempt, which would flood the log. */
  private noteOutage(err: Error): void {
    if (this.stopped || this.inOutage) return;
    this.inOutage = true;
    this.logger.warn(
      { key: this.key, err: err.message },
      'discovery: Redis unavailable; worker keeps serving and will re-register when Redis returns',
    );
  }
}
