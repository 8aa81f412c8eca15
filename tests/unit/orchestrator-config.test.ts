import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../configs/load.js';
import { loadOrchestratorConfig } from '../../orchestrator/config.js';
import { orchestratorConfigFromEnv } from '../../orchestrator/server.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, yaml: string) => {
  const p = join(dir, name);
  writeFileSync(p, yaml);
  return p;
};

describe('configs/orchestrator.yaml', () => {
  it('loads the shipped file with SPEC §2 defaults', () => {
    const c = loadOrchestratorConfig(undefined, {});
    expect(c).toMatchObject({
      ws_port: 8080,
      http_port: 8081,
      redis_url: null,
      static_workers: ['grpc://127.0.0.1:7001'],
      barge_in: { policy: 'resume_if_short', short_interjection_ms: 700, max_barged_in_ms: 3000 },
      pacer: { lead_ms: 60 },
      inspection: { enabled: true, sky: false },
    });
  });

  it('applies placeholders and direct environment overrides', () => {
    const c = orchestratorConfigFromEnv({
      ORCH_WS_PORT: '9000',
      REDIS_URL: 'redis://redis:6379',
      BARGE_IN_POLICY: 'stop',
      TTS_WORKER_ADDR: 'grpc://a:7001, grpc://b:7001',
      INSPECT: '0',
      PACER_LEAD_MS: '40',
    });
    expect(c).toMatchObject({
      wsPort: 9000,
      redisUrl: 'redis://redis:6379',
      bargeInPolicy: 'stop',
      staticWorkers: ['grpc://a:7001', 'grpc://b:7001'],
      inspection: false,
      leadMs: 40,
    });
  });

  it('lists every problem at once with its key path', () => {
    const bad = file('bad.yaml', 'ws_port: abc\nbarge_in:\n  policy: sometimes\nstatic_workers: [localhost]\nunknown_key: 1\n');
    let error: unknown;
    try {
      loadOrchestratorConfig(bad, {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['barge_in.policy', 'static_workers.0', 'unknown_key', 'ws_port']);
    expect((error as Error).message).toContain('orchestrator config');
  });

  it('takes ws_public_url as a path, a ws(s):// URL or empty, and rejects anything else', () => {
    expect(orchestratorConfigFromEnv({}).wsPublicUrl).toBe('');
    expect(orchestratorConfigFromEnv({ WS_PUBLIC_URL: '/ws' }).wsPublicUrl).toBe('/ws');
    expect(orchestratorConfigFromEnv({ WS_PUBLIC_URL: 'wss://voice.example/ws' }).wsPublicUrl).toBe('wss://voice.example/ws');
    for (const bad of ['ws', 'https://voice.example/ws', 'wss://']) {
      expect(() => orchestratorConfigFromEnv({ WS_PUBLIC_URL: bad }), bad).toThrow(/ws_public_url.*expected a path such as \/ws/s);
    }
    // The Compose stack's file: browsers come in through Caddy's /ws.
    expect(orchestratorConfigFromEnv({}, 'configs/orchestrator.docker.yaml').wsPublicUrl).toBe('/ws');
  });

  it('names the file when it is missing', () => {
    expect(() => loadOrchestratorConfig(join(dir, 'nope.yaml'), {})).toThrow(/nope\.yaml[\s\S]*file not found/);
  });
});
