import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_WORKER_CONFIG_PATH, loadWorkerConfig } from '../../workers/tts/config.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dir = mkdtempSync(join(tmpdir(), 'worker-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadWorkerConfig', () => {
  it('loads configs/worker.yaml with its defaults when no environment is set', () => {
    const config = loadWorkerConfig(undefined, {});
    expect(config).toEqual({
      name: 'tts0',
      host: '0.0.0.0',
      port: 7001,
      advertise_host: '127.0.0.1',
      http_port: 9090,
      redis_url: null,
      capabilities: { streaming: true, languages: ['en_US'], cpu_ok: true, max_concurrent_sessions: 8 },
      model_manager: {
        voicepacks_dir: join(repoRoot, 'voicepacks'),
        default_model: 'en_US-lessac-medium',
        preload: ['en_US-lessac-medium'], // `default` expanded
        ttl_seconds: 600,
        min_residency_seconds: 60,
        max_loaded: 3,
      },
      audio: { loudness_target_lufs: null, chunking: 'stream', trim_leading_silence_dbfs: -60 },
      limits: { max_text_chars: 5000 },
      realtime_priority: 10,
      log_level: 'info',
    });
    expect(loadWorkerConfig(DEFAULT_WORKER_CONFIG_PATH, {})).toEqual(config);
  });

  it('fills every key from schema defaults for an empty file', () => {
    expect(loadWorkerConfig(yamlFile(''), {})).toEqual(loadWorkerConfig(undefined, {}));
  });

  it('substitutes ${VAR} and ${VAR:-default}, coercing to the types the schema expects', () => {
    const file = yamlFile(
      [
        'name: ${NAME}',
        'port: ${PORT:-7001}',
        'http_port: ${HTTP_PORT:-9090}',
        'advertise_host: tts-${NAME}.internal',
        'capabilities:',
        '  streaming: ${STREAMING:-true}',
        '  max_concurrent_sessions: ${MAX_SESSIONS:-8}',
        '  languages: [en_US, "${EXTRA_LANG:-de_DE}"]',
        'audio:',
        '  loudness_target_lufs: ${LUFS:-}',
      ].join('\n'),
    );
    const config = loadWorkerConfig(file, { NAME: 'w1', PORT: '7200', STREAMING: 'false', MAX_SESSIONS: '16', LUFS: '-16', HTTP_PORT: '' });
    expect(config.name).toBe('w1');
    expect(config.port).toBe(7200);
    expect(config.http_port).toBe(9090); // empty counts as unset, as in the shell
    expect(config.advertise_host).toBe('tts-w1.internal');
    expect(config.capabilities.streaming).toBe(false);
    expect(config.capabilities.max_concurrent_sessions).toBe(16);
    expect(config.capabilities.languages).toEqual(['en_US', 'de_DE']);
    expect(config.audio.loudness_target_lufs).toBe(-16);
    expect(loadWorkerConfig(file, { NAME: 'w1' }).audio.loudness_target_lufs).toBeNull();
  });

  it('applies the direct environment overrides even where the file has no placeholder', () => {
    const file = yamlFile('name: fixed\nport: 7001\nhttp_port: 9090\nredis_url: ""\nlog_level: info\nmodel_manager:\n  default_model: a\n  voicepacks_dir: /opt/voices\n');
    const config = loadWorkerConfig(file, {
      WORKER_NAME: 'tts7',
      WORKER_PORT: '7100',
      WORKER_HTTP_PORT: '9191',
      REDIS_URL: 'redis://redis:6379',
      DEFAULT_MODEL: 'en_US-amy-low',
      VOICEPACKS_DIR: 'data/voices',
      LOG_LEVEL: 'debug',
      REALTIME_PRIORITY: '10',
    });
    expect(config.name).toBe('tts7');
    expect(config.port).toBe(7100);
    expect(config.http_port).toBe(9191);
    expect(typeof config.port).toBe('number');
    expect(config.redis_url).toBe('redis://redis:6379');
    expect(config.model_manager.default_model).toBe('en_US-amy-low');
    expect(config.model_manager.preload).toEqual(['en_US-amy-low']);
    expect(config.model_manager.voicepacks_dir).toBe(join(repoRoot, 'data/voices')); // repo root, not cwd
    expect(config.log_level).toBe('debug');
    expect(config.realtime_priority).toBe(10);
    expect(loadWorkerConfig(file, {}).model_manager.voicepacks_dir).toBe('/opt/voices'); // absolute kept
  });

  it('the shipped file reads its placeholders (advertise host, Redis URL)', () => {
    const config = loadWorkerConfig(undefined, { WORKER_ADVERTISE_HOST: 'tts0', REDIS_URL: 'redis://redis:6379' });
    expect(config.advertise_host).toBe('tts0');
    expect(config.redis_url).toBe('redis://redis:6379');
  });

  it('uses WORKER_CONFIG when no path is given', () => {
    const file = yamlFile('name: from-env-path\n');
    expect(loadWorkerConfig(undefined, { WORKER_CONFIG: file }).name).toBe('from-env-path');
  });

  it('reports every problem at once, each as path: message, with the file path', () => {
    const file = yamlFile(
      [
        'port: abc',
        'http_port: 70000',
        'nmae: typo',
        'redis_url: http://redis:6379',
        'capabilities:',
        '  streaming: maybe',
        'model_manager:',
        '  ttl_seconds: -5',
        '  min_residency_seconds: 10',
        'audio:',
        '  chunking: words',
        'log_level: loud',
        'realtime_priority: 100',
      ].join('\n'),
    );
    const err = configError(() => loadWorkerConfig(file, {}));
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i.message]));
    expect(byPath).toMatchObject({
      port: 'expected a number, got "abc"',
      http_port: expect.stringContaining('65535'),
      nmae: 'unknown key',
      redis_url: expect.stringContaining('redis://'),
      'capabilities.streaming': expect.stringContaining('"maybe"'),
      'model_manager.ttl_seconds': 'must be greater than 0',
      'audio.chunking': expect.stringContaining('"words"'),
      log_level: expect.stringContaining('"loud"'),
      realtime_priority: 'must be 0-99 (0 = off)',
    });
    for (const path of ['port', 'http_port', 'nmae', 'model_manager.ttl_seconds', 'audio.chunking', 'log_level']) {
      expect(err.message).toContain(`- ${path}: `);
    }
  });

  it('reports an invalid value from an override under the key it overrides', () => {
    const err = configError(() => loadWorkerConfig(undefined, { WORKER_PORT: 'abc', LOG_LEVEL: 'chatty' }));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['log_level', 'port']);
  });

  it('reports an unset placeholder without a default, once, at its key', () => {
    const err = configError(() => loadWorkerConfig(yamlFile('name: ${WORKER_ID}\n'), {}));
    expect(err.issues).toEqual([{ path: 'name', message: expect.stringContaining('WORKER_ID is not set') }]);
  });

  it('rejects a missing file with a clear message', () => {
    const missing = join(dir, 'nope.yaml');
    const err = configError(() => loadWorkerConfig(missing, {}));
    expect(err.message).toContain(missing);
    expect(err.message).toMatch(/not found/);
  });

  it('rejects malformed YAML and a non-mapping document', () => {
    expect(configError(() => loadWorkerConfig(yamlFile('port: [1\n'), {})).message).toMatch(/invalid YAML/);
    expect(configError(() => loadWorkerConfig(yamlFile('- a\n- b\n'), {})).message).toMatch(/mapping/);
  });
});
