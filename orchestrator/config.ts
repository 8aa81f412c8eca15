import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { bool, got, int, logLevel, nonEmpty, port, realtimePriority } from '../configs/fields.js';
import { loadYamlConfig } from '../configs/load.js';
import { BARGE_IN_POLICIES } from '../machines/session-machine.js';
import { liveKitSettingsProblems } from '../transports/livekit/settings.js';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEFAULT_ORCHESTRATOR_CONFIG_PATH = join(repoRoot, 'configs', 'orchestrator.yaml');

/** `${VAR:-}` yields "" and an empty YAML value null: both mean "not set". */
const optionalText = () =>
  z
    .string({ error: (iss) => `expected a string, got ${got(iss.input)}` })
    .nullable()
    .default('')
    .transform((v) => (v ?? '').trim());

/** LiveKit (SPEC §2): off while `url` is empty, the embedded default. */
const livekitSchema = z
  .strictObject({
    url: optionalText(),
    public_url: optionalText(),
    api_key: optionalText(),
    api_secret: optionalText(),
    dev_mode: bool().default(false),
    agent_identity: nonEmpty()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ -' })
      .default('agent'),
    idle_timeout_ms: int().pipe(z.number().positive({ error: 'must be greater than 0' })).default(30_000),
  })
  .prefault({})
  .superRefine((v, ctx) => {
    const problems = liveKitSettingsProblems({ url: v.url, publicUrl: v.public_url, apiKey: v.api_key, apiSecret: v.api_secret, devMode: v.dev_mode });
    for (const p of problems) ctx.addIssue({ code: 'custom', path: [p.key], message: p.message });
  });

const schema = z.strictObject({
  host: nonEmpty().default('0.0.0.0'),
  ws_port: port().default(8080),
  http_port: port().default(8081),
  /**
   * Where browsers open the WebSocket transport: empty = ws://<page host>:<ws_port>/; a path
   * (`/ws`) = on the page's own origin, wss:// when the page is https (behind a proxy); or an
   * absolute ws:// or wss:// URL.
   */
  ws_public_url: optionalText().refine((v) => v === '' || v.startsWith('/') || /^wss?:\/\/[^/]/.test(v), {
    error: 'expected a path such as /ws, a ws:// or wss:// URL, or empty',
  }),
  redis_url: z
    .string()
    .nullable()
    .default(null)
    .transform((v) => (v === null || v.trim() === '' ? null : v.trim()))
    .refine((v) => v === null || /^rediss?:\/\/./.test(v), { error: 'must be a redis:// URL, or empty for the static list' }),
  static_workers: z.array(nonEmpty().regex(/^grpc:\/\/.+:\d+$/, { error: 'must look like grpc://host:port' })).default(['grpc://127.0.0.1:7001']),
  voice: nonEmpty().default('en_US-lessac-medium'),
  language: nonEmpty().default('en_US'),
  barge_in: z
    .strictObject({
      policy: z.enum(BARGE_IN_POLICIES as unknown as ['resume', 'stop', 'resume_if_short'], {
        error: (iss) => `expected resume, stop or resume_if_short, got ${got(iss.input)}`,
      }).default('resume_if_short'),
      short_interjection_ms: int().pipe(z.number().nonnegative()).default(700),
      max_barged_in_ms: int().pipe(z.number().positive()).default(3000),
    })
    .prefault({}),
  pacer: z.strictObject({ lead_ms: int().pipe(z.number().min(0).max(1000)).default(60) }).prefault({}),
  inspection: z.strictObject({ enabled: bool().default(true), sky: bool().default(false) }).prefault({}),
  livekit: livekitSchema,
  realtime_priority: realtimePriority(),
  log_level: logLevel(),
});

export type OrchestratorFileConfig = z.output<typeof schema>;

const ENV_OVERRIDES: Record<string, readonly string[]> = {
  ORCH_WS_PORT: ['ws_port'],
  ORCH_HTTP_PORT: ['http_port'],
  WS_PUBLIC_URL: ['ws_public_url'],
  REDIS_URL: ['redis_url'],
  DEFAULT_MODEL: ['voice'],
  BARGE_IN_POLICY: ['barge_in', 'policy'],
  LOG_LEVEL: ['log_level'],
  REALTIME_PRIORITY: ['realtime_priority'],
  LIVEKIT_URL: ['livekit', 'url'],
  LIVEKIT_PUBLIC_URL: ['livekit', 'public_url'],
  LIVEKIT_API_KEY: ['livekit', 'api_key'],
  LIVEKIT_API_SECRET: ['livekit', 'api_secret'],
  LIVEKIT_DEV: ['livekit', 'dev_mode'],
};

/** `configs/orchestrator.yaml` (or `ORCHESTRATOR_CONFIG`) with the environment applied and validated. */
export function loadOrchestratorConfig(path?: string, env: NodeJS.ProcessEnv = process.env): OrchestratorFileConfig {
  const config = loadYamlConfig({
    file: path ?? (env.ORCHESTRATOR_CONFIG || DEFAULT_ORCHESTRATOR_CONFIG_PATH),
    schema,
    env,
    overrides: ENV_OVERRIDES,
    what: 'orchestrator config',
    hint: 'set ORCHESTRATOR_CONFIG',
  });
  if (env.TTS_WORKER_ADDR) config.static_workers = env.TTS_WORKER_ADDR.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.INSPECT === '0') config.inspection.enabled = false;
  if (env.INSPECT_SKY === '1') config.inspection.sky = true;
  return config;
}
