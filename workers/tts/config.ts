import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { z } from 'zod';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Used when neither a path argument nor `WORKER_CONFIG` names a file. */
export const DEFAULT_WORKER_CONFIG_PATH = join(repoRoot, 'configs', 'worker.yaml');

export interface ConfigIssue {
  /** Dotted key path, e.g. `model_manager.ttl_seconds`; `(root)` for the document itself. */
  path: string;
  message: string;
}

/** Every problem with a config file at once, so a user fixes them in one pass, not one per run. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`Cannot load worker config ${file}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// Placeholders are substituted into strings, so `port: ${WORKER_PORT:-7001}` reaches the schema as
// the string "7001". These preprocessors turn such strings into the expected type; anything else
// is passed through unchanged so zod reports it with the offending value.
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const toNumber = (v: unknown): unknown => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v.trim()) : v);
const BOOLEANS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, '1': true, '0': false };
const toBoolean = (v: unknown): unknown => (typeof v === 'string' ? (BOOLEANS[v.trim().toLowerCase()] ?? v) : v);
// `${VAR:-}` yields "", which for an optional value means "not set".
const toNullableNumber = (v: unknown): unknown => (typeof v === 'string' && ['', 'null', '~'].includes(v.trim()) ? null : toNumber(v));

const got = (input: unknown): string => (typeof input === 'string' ? JSON.stringify(input) : String(input));
const int = () =>
  z.preprocess(toNumber, z.number({ error: (iss) => `expected a number, got ${got(iss.input)}` }).int({ error: 'must be an integer' }));
const port = () => int().pipe(z.number().min(0, { error: 'must be 0-65535' }).max(65_535, { error: 'must be 0-65535' }));
const positiveInt = () => int().pipe(z.number().positive({ error: 'must be greater than 0' }));
const bool = () => z.preprocess(toBoolean, z.boolean({ error: (iss) => `expected true or false, got ${got(iss.input)}` }));
const nonEmpty = () => z.string({ error: (iss) => `expected a string, got ${got(iss.input)}` }).trim().min(1, { error: 'must not be empty', abort: true });

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
    })
    .prefault({}),
  limits: z.strictObject({ max_text_chars: positiveInt().default(5000) }).prefault({}),
  log_level: z.enum(LOG_LEVELS, { error: (iss) => `expected one of ${LOG_LEVELS.join(', ')}, got ${got(iss.input)}` }).default('info'),
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
};

// `${VAR}` or `${VAR:-default}`; as in the shell, the default also applies when VAR is empty.
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

const dotted = (path: readonly PropertyKey[]): string => (path.length === 0 ? '(root)' : path.map(String).join('.'));

/** Substitutes placeholders in every string of a parsed YAML tree (keys are left alone). */
function substitute(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (fallback !== undefined) return v === undefined || v === '' ? fallback : v;
      if (v === undefined) {
        issues.push({ path: dotted(path), message: `environment variable ${name} is not set (write \${${name}:-default} to make it optional)` });
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, [...path, i], issues));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, [...path, k], issues)]));
  }
  return value;
}

function setPath(root: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    // A non-mapping here is a schema error already; replacing it would hide that, so leave it.
    if (next === undefined) node = node[key] = {};
    else if (next !== null && typeof next === 'object' && !Array.isArray(next)) node = next as Record<string, unknown>;
    else return;
  }
  node[path[path.length - 1]!] = value;
}

/**
 * Loads the worker config: YAML → `${VAR}` substitution → env overrides → validation.
 * The file is `path`, else `WORKER_CONFIG`, else `configs/worker.yaml`; a relative path resolves
 * against the working directory (it comes from a command line), while a relative `voicepacks_dir`
 * resolves against the repository root (it must not depend on where the worker was started).
 * `preload` comes back with `default` replaced by `default_model`, deduplicated.
 * Throws a `ConfigError` naming the file and every problem found.
 */
export function loadWorkerConfig(path?: string, env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const file = resolve(path ?? (env.WORKER_CONFIG || DEFAULT_WORKER_CONFIG_PATH));
  if (!existsSync(file)) {
    throw new ConfigError(file, [{ path: '(root)', message: 'file not found (pass a path or set WORKER_CONFIG)' }]);
  }
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) {
    // The yaml package's messages carry the line, column and a code excerpt; keep the first line.
    throw new ConfigError(file, doc.errors.map((e) => ({ path: '(root)', message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}` })));
  }
  const raw: unknown = doc.toJS() ?? {}; // an empty file means "all defaults"
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '(root)', message: 'expected a mapping of keys to values' }]);
  }

  const issues: ConfigIssue[] = [];
  const substituted = substitute(raw, env, [], issues) as Record<string, unknown>;
  for (const [name, keyPath] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(substituted, keyPath, v);
  }

  const parsed = workerConfigSchema.safeParse(substituted);
  if (!parsed.success) {
    // A key whose placeholder was unset already has its problem listed; its empty value would only add noise.
    const unset = new Set(issues.map((i) => i.path));
    issues.push(...parsed.error.issues.flatMap(toConfigIssues).filter((i) => !unset.has(i.path)));
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(file, issues);

  const config = parsed.data;
  const mm = config.model_manager;
  mm.voicepacks_dir = isAbsolute(mm.voicepacks_dir) ? mm.voicepacks_dir : resolve(repoRoot, mm.voicepacks_dir);
  mm.preload = [...new Set(mm.preload.map((id) => (id === 'default' ? mm.default_model : id)))];
  return config;
}

/** One issue per unknown key, at that key's own path, so each reads like any other problem. */
function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ path: dotted([...issue.path, k]), message: 'unknown key' }));
  return [{ path: dotted(issue.path), message: issue.message }];
}
