import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../configs/load.js';
import { loadOrchestratorConfig } from '../../orchestrator/config.js';
import { orchestratorConfigFromEnv, startOrchestrator } from '../../orchestrator/server.js';
import { createLogger } from '../../workers/tts/logger.js';

const dir = mkdtempSync(join(tmpdir(), 'livekit-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const failure = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('livekit: section of configs/orchestrator.yaml', () => {
  it('is off by default (the embedded default: browsers use the WebSocket transport)', () => {
    expect(loadOrchestratorConfig(undefined, {}).livekit).toEqual({
      url: '',
      public_url: '',
      api_key: '',
      api_secret: '',
      dev_mode: false,
      agent_identity: 'agent',
      idle_timeout_ms: 30_000,
    });
    expect(orchestratorConfigFromEnv({}).livekit).toBeNull();
  });

  it('reads LIVEKIT_* from the environment; browsers get the URL itself unless LIVEKIT_PUBLIC_URL says otherwise', () => {
    const env = { LIVEKIT_URL: 'ws://livekit:7880', LIVEKIT_API_KEY: 'APIabc', LIVEKIT_API_SECRET: 'x'.repeat(40) };
    expect(orchestratorConfigFromEnv(env).livekit).toEqual({
      url: 'ws://livekit:7880',
      publicUrl: 'ws://livekit:7880',
      apiKey: 'APIabc',
      apiSecret: 'x'.repeat(40),
      devMode: false,
      agentIdentity: 'agent',
      idleTimeoutMs: 30_000,
    });
    expect(orchestratorConfigFromEnv({ ...env, LIVEKIT_PUBLIC_URL: 'wss://voice.example:8444' }).livekit?.publicUrl).toBe('wss://voice.example:8444');
  });

  it('refuses the development key pair outside development mode, naming both keys and the way out', () => {
    const err = failure(() => loadOrchestratorConfig(undefined, { LIVEKIT_URL: 'ws://127.0.0.1:7880', LIVEKIT_API_KEY: 'devkey', LIVEKIT_API_SECRET: 'secret' }));
    expect(err.issues.map((i) => i.path)).toEqual(['livekit.api_key', 'livekit.api_secret']);
    expect(err.message).toContain('LIVEKIT_DEV=true');
    // Even with LiveKit off, a config carrying the development key does not start by accident.
    expect(failure(() => loadOrchestratorConfig(undefined, { LIVEKIT_API_KEY: 'devkey' })).issues.map((i) => i.path)).toEqual(['livekit.api_key']);
  });

  it('accepts the development key pair in development mode', () => {
    const c = orchestratorConfigFromEnv({ LIVEKIT_URL: 'ws://127.0.0.1:7880', LIVEKIT_API_KEY: 'devkey', LIVEKIT_API_SECRET: 'secret', LIVEKIT_DEV: 'true' });
    expect(c.livekit).toMatchObject({ apiKey: 'devkey', apiSecret: 'secret', devMode: true });
  });

  it('refuses a URL without key or secret, and a URL that is not one', () => {
    const missing = failure(() => loadOrchestratorConfig(undefined, { LIVEKIT_URL: 'ws://127.0.0.1:7880' }));
    expect(missing.issues.map((i) => i.path)).toEqual(['livekit.api_key', 'livekit.api_secret']);
    expect(missing.message).toContain('required when livekit.url is set');
    const bad = failure(() => loadOrchestratorConfig(undefined, { LIVEKIT_URL: 'localhost:7880', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's'.repeat(32) }));
    expect(bad.issues).toEqual([{ path: 'livekit.url', message: expect.stringContaining('ws://') }]);
  });

  it('validates the section in a file (unknown keys, types)', () => {
    const p = join(dir, 'o.yaml');
    writeFileSync(p, 'livekit:\n  url: ws://a:7880\n  api_key: k\n  api_secret: s\n  dev_mode: maybe\n  colour: blue\n  idle_timeout_ms: -1\n');
    const err = failure(() => loadOrchestratorConfig(p, {}));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['livekit.colour', 'livekit.dev_mode', 'livekit.idle_timeout_ms']);
  });

  it('startOrchestrator itself refuses development credentials outside development mode', async () => {
    const config = {
      ...orchestratorConfigFromEnv({}),
      host: '127.0.0.1',
      wsPort: 0,
      httpPort: 0,
      livekit: { url: 'ws://127.0.0.1:1', publicUrl: 'ws://127.0.0.1:1', apiKey: 'devkey', apiSecret: 'secret', devMode: false, agentIdentity: 'agent', idleTimeoutMs: 1000 },
    };
    await expect(startOrchestrator(config, createLogger('t', 'silent'))).rejects.toThrow(/livekit\.api_key: "devkey" is LiveKit's development key/);
  });
});
