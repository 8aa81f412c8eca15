import { Redis } from 'ioredis';

/** A worker as discovery knows it (SPEC §7). */
export interface WorkerInfo {
  name: string;
  addr: string;
  languages: string[];
  residentModels: string[];
  defaultModel: string;
  activeSessions: number;
  maxSessions: number;
  /** When the worker last wrote its record (ms since the epoch); absent for static addresses. */
  updatedAt?: number;
}

export interface WorkerDiscovery {
  list(): Promise<WorkerInfo[]>;
  close(): Promise<void>;
}

/** The embedded default: a fixed address from config, no Redis. */
export class StaticDiscovery implements WorkerDiscovery {
  constructor(private readonly workers: WorkerInfo[]) {}
  async list(): Promise<WorkerInfo[]> {
    return this.workers;
  }
  async close(): Promise<void> {}
}

interface WorkerRecordJson {
  name?: string;
  addr?: string;
  capabilities?: { languages?: string[]; max_concurrent_sessions?: number };
  resident_models?: string[];
  default_model?: string;
  metrics?: { active_sessions?: number };
  updated_at?: string;
}

/** Reads `worker:*` records that workers keep fresh in Redis. */
export class RedisDiscovery implements WorkerDiscovery {
  private readonly redis: Redis;

  constructor(url: string) {
    // Commands wait for the connection but give up after a second, so a Redis outage makes
    // `list()` fail fast instead of hanging a session's worker choice.
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1000 });
    this.redis.on('error', () => undefined); // list() reports failures; ioredis keeps reconnecting
  }

  async list(): Promise<WorkerInfo[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', 'worker:*', 'COUNT', 100);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    const out: WorkerInfo[] = [];
    for (const raw of values) {
      if (!raw) continue;
      try {
        const r = JSON.parse(raw) as WorkerRecordJson;
        if (!r.name || !r.addr) continue;
        const updatedAt = r.updated_at ? Date.parse(r.updated_at) : Number.NaN;
        out.push({
          name: r.name,
          addr: r.addr,
          languages: r.capabilities?.languages ?? [],
          residentModels: r.resident_models ?? [],
          defaultModel: r.default_model ?? '',
          activeSessions: r.metrics?.active_sessions ?? 0,
          maxSessions: r.capabilities?.max_concurrent_sessions ?? 1,
          ...(Number.isFinite(updatedAt) && { updatedAt }),
        });
      } catch {
        // a malformed record is skipped; the worker rewrites it within 10 s
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

/**
 * SPEC §7: by language, then resident model, then load. `exclude` skips workers that just failed.
 */
export function chooseWorker(workers: readonly WorkerInfo[], want: { language?: string; model?: string; exclude?: ReadonlySet<string> }): WorkerInfo | undefined {
  const usable = workers.filter((w) => !want.exclude?.has(w.addr) && w.activeSessions < w.maxSessions);
  const byLanguage = want.language ? usable.filter((w) => w.languages.length === 0 || w.languages.includes(want.language as string)) : usable;
  const pool = byLanguage.length > 0 ? byLanguage : usable;
  const score = (w: WorkerInfo) => [want.model && (w.residentModels.includes(want.model) || w.defaultModel === want.model) ? 0 : 1, w.activeSessions / Math.max(1, w.maxSessions)] as const;
  return [...pool].sort((a, b) => {
    const [ra, la] = score(a);
    const [rb, lb] = score(b);
    return ra - rb || la - lb;
  })[0];
}
