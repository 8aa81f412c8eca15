import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { bool, got, int, logLevel, nonEmpty, port, positiveInt, realtimePriority, toNullableNumber } from '../../configs/fields.js';
import { loadYamlConfig } from '../../configs/load.js';
import { realDirectory } from './voices/voicepack.js';

export { ConfigError, type ConfigIssue } from '../../configs/load.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Used when neither a path argument nor `WORKER_CONFIG` names a file. */
export const DEFAULT_WORKER_CONFIG_PATH = join(repoRoot, 'configs', 'worker.yaml');

// Strict objects: a misspelt key is almost always a mistake that would otherwise be silently ignored.
// Defaults mirror configs/worker.yaml so a trimmed config file still loads.
const workerConfigSchema = z.strictObject({
  name: nonEmpty().regex(/^[A-Za-z0-9_.-]+$/, { error: 'only letters, digits, "_", "." and "-" (it becomes the Redis key worker:<name>)' }).default('tts0'),
  host: nonEmpty().default('0.0.0.0'),
  port: port().default(7001),
  advertise_host: nonEmpty().default('127.0.0.1'),
  http_port: port().default(9090),
  // Empty string = discovery disabled, normalised to null so callers test one thing.
  redis_url: z
    .string({ error: (iss) => `expected a URL string or empty, got ${got(iss.input)}` })
    .nullable()
    .default(null)
    .transform((v) => (v === null || v.trim() === '' ? null : v.trim()))
    .refine((v) => v === null || /^rediss?:\/\/./.test(v), { error: 'must be a redis:// or rediss:// URL, or empty to disable discovery' }),
  capabilities: z
    .strictObject({
      streaming: bool().default(true),
      languages: z.array(nonEmpty()).min(1, { error: 'list at least one language' }).default(['en_US']),
      cpu_ok: bool().default(true),
      max_concurrent_sessions: positiveInt().default(8),
    })
    .prefault({}),
  model_manager: z
    .strictObject({
      voicepacks_dir: nonEmpty().default('voicepacks'),
      default_model: nonEmpty().default('en_US-lessac-medium'),
      preload: z.array(nonEmpty()).default(['default']),
      ttl_seconds: positiveInt().default(600),
      min_residency_seconds: int().pipe(z.number().nonnegative({ error: 'must not be negative' })).default(60),
      max_loaded: positiveInt().default(3),
    })
    .prefault({})
    .refine((m) => m.min_residency_seconds <= m.ttl_seconds, {
      error: 'min_residency_seconds must not exceed ttl_seconds',
      path: ['min_residency_seconds'],
    }),
  audio: z
    .strictObject({
      loudness_target_lufs: z
        .preprocess(toNullableNumber, z.number({ error: (iss) => `expected a number or null, got ${got(iss.input)}` }).nullable())
        .refine((v) => v === null || (v < 0 && v >= -70), { error: 'must be between -70 and 0 LUFS (e.g. -16), or null' })
        .default(null),
      chunking: z.enum(['stream', 'sentence'], { error: (iss) => `expected "stream" or "sentence", got ${got(iss.input)}` }).default('stream'),
      trim_leading_silence_dbfs: z
        .preprocess(toNullableNumber, z.number({ error: (iss) => `expected a number or null, got ${got(iss.input)}` }).nullable())
        .refine((v) => v === null || (v < 0 && v >= -90), { error: 'must be between -90 and 0 dBFS (e.g. -60), or null' })
        .default(-60),
    })
    .prefault({}),
  limits: z.strictObject({ max_text_chars: positiveInt().default(5000) }).prefault({}),
  realtime_priority: realtimePriority(),
  log_level: logLevel(),
});

export type WorkerConfig = z.output<typeof workerConfigSchema>;
export type WorkerCapabilities = WorkerConfig['capabilities'];

/** Direct overrides: these win over the file even where it has no placeholder. Set and non-empty only. */
const ENV_OVERRIDES: Record<string, readonly string[]> = {
  WORKER_NAME: ['name'],
  WORKER_PORT: ['port'],
  WORKER_HTTP_PORT: ['http_port'],
  REDIS_URL: ['redis_url'],
  DEFAULT_MODEL: ['model_manager', 'default_model'],
  VOICEPACKS_DIR: ['model_manager', 'voicepacks_dir'],
  LOG_LEVEL: ['log_level'],
  REALTIME_PRIORITY: ['realtime_priority'],
};

/**
 * Loads the worker config: YAML → `${VAR}` substitution → env overrides → validation.
 * The file is `path`, else `WORKER_CONFIG`, else `configs/worker.yaml`; a relative path resolves
 * against the working directory (it comes from a command line), while a relative `voicepacks_dir`
 * resolves against the repository root (it must not depend on where the worker was started).
 * `preload` comes back with `default` replaced by `default_model`, deduplicated.
 * Throws a `ConfigError` naming the file and every problem found.
 */
export function loadWorkerConfig(path?: string, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const config = loadYamlConfig({
    file: path ?? (env.WORKER_CONFIG || DEFAULT_WORKER_CONFIG_PATH),
    schema: workerConfigSchema,
    env,
    overrides: ENV_OVERRIDES,
    what: 'worker config',
    hint: 'set WORKER_CONFIG',
  });
  const mm = config.model_manager;
  if (!isAbsolute(mm.voicepacks_dir)) mm.voicepacks_dir = realDirectory(resolve(repoRoot, mm.voicepacks_dir));
  mm.preload = [...new Set(mm.preload.map((id) => (id === 'default' ? mm.default_model : id)))];
  return config;
}
