import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseWorker, RedisDiscovery, type WorkerInfo } from '../../actors/synthesis/discovery.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const worker = (over: Partial<WorkerInfo>): WorkerInfo => ({
  name: 'w',
  addr: 'grpc://127.0.0.1:1',
  languages: ['en_US'],
  residentModels: [],
  defaultModel: 'a',
  activeSessions: 0,
  maxSessions: 8,
  ...over,
});

describe('chooseWorker (SPEC §7: language, resident model, then load)', () => {
  it('prefers the language, then a worker with the model resident, then the least loaded', () => {
    const de = worker({ name: 'de', addr: 'grpc://de:1', languages: ['de_DE'], residentModels: ['m'] });
    const cold = worker({ name: 'cold', addr: 'grpc://cold:1', activeSessions: 0 });
    const warmBusy = worker({ name: 'warmBusy', addr: 'grpc://wb:1', residentModels: ['m'], activeSessions: 6 });
    const warmIdle = worker({ name: 'warmIdle', addr: 'grpc://wi:1', residentModels: ['m'], activeSessions: 1 });
    expect(chooseWorker([de, cold, warmBusy, warmIdle], { language: 'en_US', model: 'm' })?.name).toBe('warmIdle');
    expect(chooseWorker([de, cold, warmBusy], { language: 'en_US', model: 'm' })?.name).toBe('warmBusy');
    expect(chooseWorker([de, cold], { language: 'en_US', model: 'x' })?.name).toBe('cold');
  });

  it('skips excluded (just failed) and full workers, and returns undefined when none is left', () => {
    const a = worker({ name: 'a', addr: 'grpc://a:1' });
    const full = worker({ name: 'full', addr: 'grpc://f:1', activeSessions: 8, maxSessions: 8 });
    expect(chooseWorker([a, full], { exclude: new Set(['grpc://a:1']) })).toBeUndefined();
    expect(chooseWorker([a, full], {})?.name).toBe('a');
  });
});

describe('RedisDiscovery (real redis-server)', () => {
  let redis: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop('SIGTERM');
  });

  it('lists the worker records and skips malformed ones', async () => {
    await client.set(
      'worker:tts0',
      JSON.stringify({
        name: 'tts0',
        addr: 'grpc://10.0.0.5:7001',
        capabilities: { languages: ['en_US'], max_concurrent_sessions: 8 },
        resident_models: ['en_US-lessac-medium'],
        default_model: 'en_US-lessac-medium',
        metrics: { active_sessions: 2, rtf: 0.1 },
        updated_at: '2026-11-21T07:00:00.000Z',
      }),
      'EX',
      30,
    );
    await client.set('worker:broken', '{not json', 'EX', 30);
    await client.set('unrelated', 'x');
    const discovery = new RedisDiscovery(redis.url);
    try {
      const workers = await discovery.list();
      expect(workers).toEqual([
        {
          name: 'tts0',
          addr: 'grpc://10.0.0.5:7001',
          languages: ['en_US'],
          residentModels: ['en_US-lessac-medium'],
          defaultModel: 'en_US-lessac-medium',
          activeSessions: 2,
          maxSessions: 8,
          // When the record was written: loads counted after it are not in active_sessions yet.
          updatedAt: Date.parse('2026-11-21T07:00:00.000Z'),
        },
      ]);
    } finally {
      await discovery.close();
    }
  });
});
