import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerConfig } from '../../workers/tts/config.js';
import { WorkerRegistration, workerAddr, type LiveWorkerState, type WorkerRecord, type WorkerRegistrationOptions } from '../../workers/tts/discovery/registry.js';
import { waitFor } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const CAPABILITIES = { streaming: true, languages: ['en_US'], cpu_ok: true, max_concurrent_sessions: 8 };

function recordingLogger() {
  const warns: string[] = [];
  const infos: string[] = [];
  return { warns, infos, logger: { warn: (_o: object, m?: string) => warns.push(m ?? ''), info: (_o: object, m?: string) => infos.push(m ?? '') } };
}

let nextName = 0;
/** What the registrations publish; tests mutate it to check the record follows, afterEach restores it. */
const live: LiveWorkerState = { resident_models: ['en_US-lessac-medium'], metrics: { active_sessions: 0, rtf: null } };
const registrations: WorkerRegistration[] = [];
/** A registration with a unique name (tests share one Redis); stopped in afterEach whatever happens. */
function register(redisUrl: string, overrides: Partial<WorkerRegistrationOptions> = {}): WorkerRegistration {
  const reg = new WorkerRegistration({
    redisUrl,
    name: `test-${process.pid}-${nextName++}`,
    addr: 'grpc://127.0.0.1:7001',
    capabilities: CAPABILITIES,
    defaultModel: 'en_US-lessac-medium',
    live: () => live,
    ...overrides,
  });
  registrations.push(reg);
  return reg;
}

let redis: RedisServer;
let client: Redis;
const record = async (key: string): Promise<WorkerRecord | null> => {
  const raw = await client.get(key);
  return raw === null ? null : (JSON.parse(raw) as WorkerRecord);
};

beforeAll(async () => {
  redis = await startRedisServer();
  client = new Redis(redis.url);
});
afterEach(async () => {
  await Promise.all(registrations.splice(0).map((r) => r.stop()));
  live.resident_models = ['en_US-lessac-medium'];
  live.metrics = { active_sessions: 0, rtf: null };
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('WorkerRegistration', () => {
  it('writes worker:<name> with the SPEC §7 JSON and a TTL of at most 30 s', async () => {
    const reg = register(redis.url);
    const before = Date.now();
    await reg.start();
    expect(reg.redisState).toBe('connected');

    const value = await record(reg.key);
    expect(reg.key).toMatch(/^worker:test-/);
    expect(value).toEqual({
      name: reg.key.slice('worker:'.length),
      addr: 'grpc://127.0.0.1:7001',
      capabilities: CAPABILITIES,
      resident_models: ['en_US-lessac-medium'],
      default_model: 'en_US-lessac-medium',
      metrics: { active_sessions: 0, rtf: null },
      updated_at: expect.any(String),
    });
    expect(Date.parse(value!.updated_at)).toBeGreaterThanOrEqual(before - 1000);
    const ttl = await client.ttl(reg.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
  });

  it('refreshes on its interval: the TTL is renewed and live metrics and models are current', async () => {
    const reg = register(redis.url, { refreshMs: 100 });
    await reg.start();
    // Shorten the TTL behind the worker's back; only a refresh can bring it back up to ~30 s.
    await client.expire(reg.key, 5);
    await waitFor(async () => (await client.ttl(reg.key)) > 5, 'the TTL to be renewed');

    live.metrics = { active_sessions: 3, rtf: 0.12 };
    live.resident_models = ['en_US-lessac-medium', 'en_US-amy-low'];
    const updated = await waitFor(async () => {
      const v = await record(reg.key);
      return v?.metrics.active_sessions === 3 ? v : null;
    }, 'the live metrics to be published');
    expect(updated.metrics).toEqual({ active_sessions: 3, rtf: 0.12 });
    expect(updated.resident_models).toEqual(['en_US-lessac-medium', 'en_US-amy-low']);
  });

  it('deletes the key on stop, and stop is idempotent', async () => {
    const reg = register(redis.url, { refreshMs: 50 });
    await reg.start();
    expect(await client.exists(reg.key)).toBe(1);
    await reg.stop();
    expect(await client.exists(reg.key)).toBe(0);
    await expect(reg.stop()).resolves.toBeUndefined();
    expect(await reg.refresh()).toBe(false); // nothing written after stop
    expect(await client.exists(reg.key)).toBe(0);
  });

  it('lets the key expire when the worker stops refreshing without deregistering (a crash)', async () => {
    const reg = register(redis.url, { ttlSeconds: 1, refreshMs: 300 });
    await reg.start();
    expect(await client.exists(reg.key)).toBe(1);
    await reg.stop({ deregister: false });
    expect(await client.exists(reg.key)).toBe(1); // still listed: only the TTL removes it
    await waitFor(async () => (await client.exists(reg.key)) === 0, 'the key to expire', 5000);
  });

  it('survives a Redis restart: keeps going without throwing, warns once, and re-registers', async () => {
    const own = await startRedisServer(); // its own server, so killing it disturbs no other test
    const ownClient = new Redis(own.url, { lazyConnect: true, retryStrategy: () => 20 });
    ownClient.on('error', () => undefined);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { warns, infos, logger } = recordingLogger();
    let restarted: RedisServer | undefined;
    try {
      const reg = register(own.url, { refreshMs: 100, logger });
      await reg.start();
      await ownClient.connect();
      expect(await ownClient.exists(reg.key)).toBe(1);

      await own.stop('SIGKILL');
      await waitFor(() => reg.redisState === 'disconnected', 'the registration to notice the outage');
      for (let i = 0; i < 3; i += 1) await expect(reg.refresh()).resolves.toBe(false);
      // Several interval ticks and reconnect attempts fail during the outage; one warning covers them.
      await waitFor(() => warns.length > 0, 'the outage warning');

      restarted = await startRedisServer(own.port);
      // A fresh server holds no data, so the key reappearing proves the worker wrote it again.
      await waitFor(async () => ownClient.status === 'ready' && (await ownClient.exists(reg.key)) === 1, 'the key to reappear', 10_000);
      const value = JSON.parse((await ownClient.get(reg.key))!) as WorkerRecord;
      expect(value.addr).toBe('grpc://127.0.0.1:7001');
      expect(await ownClient.ttl(reg.key)).toBeGreaterThan(0);
      expect(reg.redisState).toBe('connected');
      expect(warns).toHaveLength(1);
      expect(infos.some((m) => /back/.test(m))).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      ownClient.disconnect();
      await own.stop();
      await restarted?.stop();
    }
  });

  it('starts without Redis (start resolves, no throw) and registers once Redis comes up', async () => {
    const port = await freePort();
    const { warns, logger } = recordingLogger();
    const reg = register(`redis://127.0.0.1:${port}`, { refreshMs: 100, logger });
    await expect(reg.start()).resolves.toBeUndefined();
    expect(reg.redisState).toBe('disconnected');
    expect(await reg.refresh()).toBe(false);
    expect(warns).toHaveLength(1);

    const late = await startRedisServer(port);
    const lateClient = new Redis(late.url);
    try {
      await waitFor(async () => (await lateClient.exists(reg.key)) === 1, 'the late registration');
    } finally {
      lateClient.disconnect();
      await reg.stop();
      await late.stop();
    }
  });

  it('stop() while Redis is down resolves promptly', async () => {
    const reg = register(`redis://127.0.0.1:${await freePort()}`, { refreshMs: 100 });
    await reg.start();
    await expect(reg.stop()).resolves.toBeUndefined();
  });

  it('rejects a refresh interval that would let the key lapse', () => {
    expect(() => register(redis.url, { ttlSeconds: 1, refreshMs: 1000 })).toThrow(RangeError);
    registrations.pop();
  });

  it('fromConfig: null without redis_url; otherwise advertises grpc://advertise_host:port', async () => {
    const config = {
      name: 'cfg-worker',
      port: 7123,
      advertise_host: '::1',
      redis_url: null,
      capabilities: CAPABILITIES,
      model_manager: { default_model: 'en_US-lessac-medium' },
    } as unknown as WorkerConfig;
    expect(WorkerRegistration.fromConfig(config, () => live)).toBeNull();
    expect(workerAddr('10.0.0.5', 7001)).toBe('grpc://10.0.0.5:7001');

    const reg = WorkerRegistration.fromConfig({ ...config, redis_url: redis.url }, () => live)!;
    registrations.push(reg);
    await reg.start();
    expect((await record('worker:cfg-worker'))?.addr).toBe('grpc://[::1]:7123');
  });
});
