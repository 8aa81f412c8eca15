import type { Logger } from 'pino';
import { PiperEngine } from '../engine/engine.js';
import type { InferenceTuning } from '../engine/piper-model.js';
import { listVoiceIds, loadVoicepack, type Voicepack } from '../voices/voicepack.js';

export interface ModelManagerOptions {
  voicepacksDir: string;
  defaultModel: string;
  preload: string[];
  ttlSeconds: number;
  minResidencySeconds: number;
  maxLoaded: number;
  logger: Logger;
  /** How a voice becomes an engine; tests may pass a loader with other tuning. */
  loadEngine?: (voice: Voicepack) => Promise<PiperEngine>;
  /** onnxruntime settings for the default loader. */
  tuning?: Partial<InferenceTuning>;
  onLoad?: (modelId: string, result: 'ok' | 'error') => void;
  now?: () => number;
}

export interface ModelState {
  modelId: string;
  voice: Voicepack;
  loaded: boolean;
  isDefault: boolean;
  sessionsUsing: number;
  loadedAt: number;
  lastUsed: number;
}

interface Resident {
  voice: Voicepack;
  engine: PiperEngine;
  users: number;
  loadedAt: number;
  lastUsed: number;
}

export class ModelError extends Error {
  constructor(
    readonly code: 'not_found' | 'in_use' | 'load_failed' | 'capacity',
    message: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }
}

/** A model in use by one holder; `release` once, when the holder is done with it. */
export interface ModelLease {
  readonly modelId: string;
  readonly engine: PiperEngine;
  release(): void;
}

/**
 * Which voices are resident: preloads and warms them, loads on demand (one load per model even
 * under concurrent requests), evicts idle ones after a TTL but never before a minimum residency,
 * never the default, and never one in use.
 */
export class ModelManager {
  private readonly resident = new Map<string, Resident>();
  private readonly loading = new Map<string, Promise<Resident>>();
  private retired: Resident[] = [];
  private evictionTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: ModelManagerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get defaultModel(): string {
    return this.opts.defaultModel;
  }

  /** Preloads the default and configured models; evictions run every `checkSeconds`. */
  async start(checkSeconds = 10): Promise<void> {
    const ids = [...new Set([this.opts.defaultModel, ...this.opts.preload])];
    for (const id of ids) await this.load(id);
    this.evictionTimer = setInterval(() => void this.evictIdle(), checkSeconds * 1000);
    this.evictionTimer.unref();
  }

  residentModels(): string[] {
    return [...this.resident.keys()].sort();
  }

  /** Every voice on disk, loaded or not. */
  list(): ModelState[] {
    const ids = new Set([...listVoiceIds(this.opts.voicepacksDir), ...this.resident.keys()]);
    const out: ModelState[] = [];
    for (const modelId of [...ids].sort()) {
      const r = this.resident.get(modelId);
      let voice = r?.voice;
      if (!voice) {
        try {
          voice = loadVoicepack(modelId, this.opts.voicepacksDir);
        } catch {
          continue; // a broken voicepack is reported when someone asks to load it
        }
      }
      out.push({
        modelId,
        voice,
        loaded: !!r,
        isDefault: modelId === this.opts.defaultModel,
        sessionsUsing: r?.users ?? 0,
        loadedAt: r?.loadedAt ?? 0,
        lastUsed: r?.lastUsed ?? 0,
      });
    }
    return out;
  }

  /** Loads (and warms) a model if needed; resolves with the warm-up time, 0 if already resident. */
  async load(modelId: string): Promise<{ warmupMs: number }> {
    if (this.resident.has(modelId)) return { warmupMs: 0 };
    const before = this.now();
    await this.ensure(modelId);
    return { warmupMs: this.now() - before };
  }

  private ensure(modelId: string): Promise<Resident> {
    const existing = this.resident.get(modelId);
    if (existing) return Promise.resolve(existing);
    const pending = this.loading.get(modelId);
    if (pending) return pending;
    const promise = this.doLoad(modelId).finally(() => this.loading.delete(modelId));
    this.loading.set(modelId, promise);
    return promise;
  }

  private async doLoad(modelId: string): Promise<Resident> {
    let voice: Voicepack;
    try {
      voice = loadVoicepack(modelId, this.opts.voicepacksDir);
    } catch (err) {
      this.opts.onLoad?.(modelId, 'error');
      throw new ModelError('not_found', (err as Error).message);
    }
    if (this.resident.size >= this.opts.maxLoaded) await this.evictIdle(true);
    if (this.resident.size >= this.opts.maxLoaded) {
      this.opts.onLoad?.(modelId, 'error');
      throw new ModelError('capacity', `cannot load ${modelId}: ${this.resident.size} models resident (max_loaded) and none idle`);
    }
    const log = this.opts.logger.child({ model: modelId });
    log.info('Loading model');
    try {
      const t0 = performance.now();
      const engine = await (this.opts.loadEngine ?? ((v) => PiperEngine.load(v, { tuning: this.opts.tuning })))(voice);
      const loadMs = performance.now() - t0;
      const { preparation } = engine;
      if (preparation?.warning) log.warn(preparation.warning);
      else if (preparation?.created) log.info({ path: preparation.path, prepare_ms: Math.round(preparation.ms) }, 'Prepared model written (upsampling as polyphase Conv)');
      const warmupMs = await engine.warmup();
      log.info({ load_ms: Math.round(loadMs), warmup_ms: Math.round(warmupMs), model_file: preparation?.path }, 'Warmup synthesis complete');
      const now = this.now();
      const resident = { voice, engine, users: 0, loadedAt: now, lastUsed: now };
      this.resident.set(modelId, resident);
      this.opts.onLoad?.(modelId, 'ok');
      return resident;
    } catch (err) {
      this.opts.onLoad?.(modelId, 'error');
      throw new ModelError('load_failed', `loading ${modelId} failed: ${(err as Error).message}`);
    }
  }

  /** Takes a model for use, loading it if needed. */
  async acquire(modelId = this.opts.defaultModel): Promise<ModelLease> {
    const resident = await this.ensure(modelId);
    resident.users += 1;
    resident.lastUsed = this.now();
    let released = false;
    return {
      modelId,
      engine: resident.engine,
      release: () => {
        if (released) return;
        released = true;
        resident.users -= 1;
        resident.lastUsed = this.now();
        if (this.retired.includes(resident)) this.releaseRetired();
      },
    };
  }

  /** Unloads a model; refuses one in use. `force` skips the minimum residency. */
  async unload(modelId: string, force = false): Promise<void> {
    const r = this.resident.get(modelId);
    if (!r) throw new ModelError('not_found', `model ${modelId} is not loaded`);
    if (r.users > 0) throw new ModelError('in_use', `model ${modelId} is in use by ${r.users} session(s)`);
    if (!force && this.now() - r.loadedAt < this.opts.minResidencySeconds * 1000) {
      throw new ModelError('in_use', `model ${modelId} was loaded less than ${this.opts.minResidencySeconds} s ago (min residency); use force`);
    }
    this.resident.delete(modelId);
    await r.engine.release();
    this.opts.logger.info({ model: modelId }, 'Model unloaded');
  }

  /** Unloads idle models past their TTL (or, with `pressure`, the least recently used idle one). */
  async evictIdle(pressure = false): Promise<string[]> {
    const now = this.now();
    const evicted: string[] = [];
    const candidates = [...this.resident.entries()]
      .filter(([id, r]) => r.users === 0 && id !== this.opts.defaultModel && now - r.loadedAt >= this.opts.minResidencySeconds * 1000)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [id, r] of candidates) {
      const expired = now - r.lastUsed >= this.opts.ttlSeconds * 1000;
      if (!expired && !(pressure && evicted.length === 0)) continue;
      this.resident.delete(id);
      await r.engine.release();
      evicted.push(id);
      this.opts.logger.info({ model: id, idle_s: Math.round((now - r.lastUsed) / 1000) }, 'Model evicted');
    }
    return evicted;
  }

  /**
   * Loads a fresh engine for a resident model (e.g. after its files changed) and swaps it in; the
   * old engine is released once its last holder lets go.
   */
  async reload(modelId: string): Promise<void> {
    const old = this.resident.get(modelId);
    if (!old) {
      await this.load(modelId);
      return;
    }
    this.resident.delete(modelId);
    try {
      await this.ensure(modelId);
    } catch (err) {
      this.resident.set(modelId, old); // keep serving the old engine
      throw err;
    }
    if (old.users === 0) await old.engine.release();
    else this.retired.push(old);
  }

  private releaseRetired(): void {
    for (const r of this.retired.filter((x) => x.users === 0)) void r.engine.release();
    this.retired = this.retired.filter((x) => x.users > 0);
  }

  async stop(): Promise<void> {
    if (this.evictionTimer) clearInterval(this.evictionTimer);
    this.evictionTimer = undefined;
    const all = [...this.resident.values()];
    this.resident.clear();
    await Promise.all(all.map((r) => r.engine.release()));
  }
}
