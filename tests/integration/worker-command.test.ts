import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureServerBuild, SERVER_BUILD_DIR } from '../../scripts/compiled.mjs';
import { TTSServiceClient } from '../../workers/tts/grpc/generated/tts.js';
import { freePort } from '../helpers/ports.js';
import { findDescendant, processArgv } from '../helpers/processes.js';
import { requireRealVoice } from '../support/orchestrator-stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VOICE = 'en_US-joe-medium';
const STAMP = join(SERVER_BUILD_DIR, '.sources-mtime');

/**
 * `npm run worker` runs the worker compiled (dist/server, rebuilt when a source changed), with
 * the Node flags and environment the image uses. The build directory is the repository's own,
 * so these tests run one after another in this file and nowhere else.
 */
describe('npm run worker', () => {
  let npm: ChildProcess | undefined;

  afterAll(() => {
    if (npm?.exitCode === null && npm.pid) process.kill(-npm.pid, 'SIGKILL');
  });

  it('builds dist/server when a source is newer than the build, and only then', () => {
    ensureServerBuild({ quiet: true });
    const before = readFileSync(STAMP, 'utf8');
    const stampTime = statSync(STAMP).mtimeMs;
    ensureServerBuild({ quiet: true });
    expect(statSync(STAMP).mtimeMs, 'no rebuild without a change').toBe(stampTime);

    const source = join(ROOT, 'configs', 'worker.yaml');
    const later = new Date(Math.max(Date.now(), Number(before)) + 2000);
    utimesSync(source, later, later);
    ensureServerBuild({ quiet: true });
    expect(readFileSync(STAMP, 'utf8')).toBe(String(statSync(source).mtimeMs));
    expect(readFileSync(join(SERVER_BUILD_DIR, 'configs', 'worker.yaml'), 'utf8')).toBe(readFileSync(source, 'utf8'));
  }, 120_000);

  it('starts the compiled worker, which serves the voice and shuts down cleanly on SIGTERM', async () => {
    requireRealVoice(VOICE);
    const port = await freePort();
    npm = spawn('npm', ['run', '-s', 'worker'], {
      cwd: ROOT,
      detached: true, // its own process group, killed whole if the test fails
      env: { ...process.env, DEFAULT_MODEL: VOICE, WORKER_PORT: String(port), WORKER_HTTP_PORT: String(await freePort()), REDIS_URL: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let worker: number | undefined;
    npm.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(npm, 'exit');

    const client = new TTSServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 90_000, (err) => (err ? reject(err) : resolve()))),
        exited.then(() => Promise.reject(new Error(`npm run worker exited early:\n${output}`))),
      ]);
      const models = await new Promise<{ models: { modelId: string; loaded: boolean }[] }>((resolve, reject) =>
        client.listModels({}, (err, res) => (err ? reject(err) : resolve(res))),
      );
      expect(models.models.find((m) => m.modelId === VOICE)?.loaded).toBe(true);
      expect(output).toContain('Warmup synthesis complete');

      // The serving process is node on the compiled entry, with the image's environment tuning.
      worker = findDescendant(npm.pid!, 'scripts/compiled.mjs');
      expect(worker, 'a node process under npm').toBeDefined();
      expect(processArgv(worker!)).toEqual(expect.arrayContaining(['--max-semi-space-size=2', 'workers/tts/main.ts']));
      expect(readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    } finally {
      client.close();
    }
    // As a terminal's Ctrl-C or a process manager would stop the service: the worker ends its
    // streams and exits 0, and npm with it.
    process.kill(worker!, 'SIGTERM');
    const [code] = await exited;
    expect(code, output).toBe(0);
    expect(output).toContain('Worker shutting down');
  }, 150_000);
});

