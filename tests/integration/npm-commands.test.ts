import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureServerBuild, SERVER_BUILD_DIR } from '../../scripts/compiled.mjs';
import { TTSServiceClient } from '../../workers/tts/grpc/generated/tts.js';
import { freePort } from '../helpers/ports.js';
import { findDescendant, processArgv } from '../helpers/processes.js';
import { threadScheduling } from '../../platform/realtime-priority.js';
import { requireRealVoice } from '../support/orchestrator-stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VOICE = 'en_US-joe-medium';
const STAMP = join(SERVER_BUILD_DIR, '.sources-mtime');

interface Msg {
  type: string;
  state?: string;
  sequence?: number;
}

const spawned: ChildProcess[] = [];

/** `npm <args>` in its own process group (killed whole if a test fails). */
function npmRun(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn('npm', args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(child);
  return child;
}

afterAll(() => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
});

/**
 * `npm run worker` runs the worker compiled (dist/server, rebuilt when a source changed), with
 * the Node flags and environment the image uses. The build directory is the repository's own,
 * so the tests that run it (here, `npm start` below too) run one after another in this file.
 */
describe('npm run worker', () => {
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

  it('two commands started together on a stale build build it once between them, and both run', async () => {
    ensureServerBuild({ quiet: true });
    const source = join(ROOT, 'configs', 'worker.yaml');
    const later = new Date(Math.max(Date.now(), Number(readFileSync(STAMP, 'utf8'))) + 2000);
    utimesSync(source, later, later);
    const script = `import(${JSON.stringify(join(ROOT, 'scripts', 'compiled.mjs'))}).then((m) => console.log(m.ensureServerBuild()))`;
    const runs = [0, 1].map(() => {
      const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      return once(child, 'exit').then(([code]) => ({ code: code as number, out: out.trim(), compiled: err.includes('Compiling the services') }));
    });
    const results = await Promise.all(runs);
    expect(results.map(({ code, out }) => ({ code, out }))).toEqual([
      { code: 0, out: SERVER_BUILD_DIR },
      { code: 0, out: SERVER_BUILD_DIR },
    ]);
    expect(results.filter((r) => r.compiled), 'builds').toHaveLength(1);
    expect(readFileSync(STAMP, 'utf8')).toBe(String(statSync(source).mtimeMs));
    expect(statSync(join(SERVER_BUILD_DIR, 'workers', 'tts', 'main.js')).isFile()).toBe(true);
    const leftovers = readdirSync(dirname(SERVER_BUILD_DIR)).filter((f) => f !== 'server');
    expect(leftovers, 'no half-built tree or lock left behind').toEqual([]);
  }, 120_000);

  it('starts the compiled worker, which serves the voice and shuts down cleanly on SIGTERM', async () => {
    requireRealVoice(VOICE);
    const port = await freePort();
    // The configs' default realtime priority (10), whatever the calling shell sets.
    const env: NodeJS.ProcessEnv = { ...process.env, DEFAULT_MODEL: VOICE, WORKER_PORT: String(port), WORKER_HTTP_PORT: String(await freePort()), REDIS_URL: '', LOG_LEVEL: 'info' };
    delete env.REALTIME_PRIORITY;
    const npm = npmRun(['run', '-s', 'worker'], env);
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
      // Paths it reports name the repository's voicepacks/, not the build's link to it.
      expect(output).toContain(`"model_file":"${join(ROOT, 'voicepacks', 'piper', VOICE)}/`);

      // The serving process is node on the compiled entry, with the image's environment tuning.
      worker = findDescendant(npm.pid!, 'scripts/compiled.mjs');
      expect(worker, 'a node process under npm').toBeDefined();
      expect(processArgv(worker!)).toEqual(expect.arrayContaining(['--max-semi-space-size=2', 'workers/tts/main.ts']));
      expect(readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
      expectRealtimeEventLoop(worker!, output);
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

/**
 * By default the event loop (the process's main thread) runs SCHED_FIFO, and no other thread
 * does: the inference threads stay ordinary, niced, and sleep instead of spinning. Root (CI) is
 * granted it; anyone else is told why not, and onnxruntime's threads spin as usual.
 */
function expectRealtimeEventLoop(pid: number, log: string): void {
  const root = process.getuid?.() === 0;
  expect(log).toContain(root ? 'Event loop runs at realtime priority (SCHED_FIFO 10)' : 'Event loop runs at normal priority: realtime not permitted');
  expect(log).toContain(`"inference_spinning":${String(!root)}`);
  const threads = readdirSync(`/proc/${pid}/task`).map(Number);
  expect(threadScheduling(pid).policy).toBe(root ? 'fifo' : 'other');
  const others = threads.filter((t) => t !== pid).map((t) => threadScheduling(pid, t));
  expect(others.filter((t) => t.policy !== 'other')).toEqual([]);
  expect(others.filter((t) => t.nice === 5).length, 'the inference thread and its onnxruntime pool').toBeGreaterThanOrEqual(2);
}

/**
 * `npm start`, the README's one command, exactly as a user runs it: one process with the worker
 * and the orchestrator, the URLs printed, a reply spoken over the WebSocket, a clean exit on
 * SIGINT. If the browser client is not built yet, this builds it (clients/web/dist),
 * as `npm start` does for a user.
 */
describe('npm start', () => {
  it('prints its URLs, serves health, the page and a spoken reply, and exits 0 on Ctrl-C', async () => {
    requireRealVoice(VOICE);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEFAULT_MODEL: VOICE,
      ORCH_WS_PORT: String(await freePort()),
      ORCH_HTTP_PORT: String(await freePort()),
      WORKER_PORT: String(await freePort()),
      WORKER_HTTP_PORT: String(await freePort()),
      REALTIME_PRIORITY: '0', // the default (10) is checked on `npm run worker` above
      LOG_LEVEL: 'info',
    };
    // As in a user's shell: vitest's NODE_ENV=test would, among others, make Vite build a
    // development bundle.
    delete env.NODE_ENV;
    const npm = npmRun(['start', '--silent'], env);
    let out = '';
    let err = '';
    npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = once(npm, 'exit');

    const up = new Promise<void>((resolve) => {
      const check = () => /Voice chat is up/.test(out) && /HTTP: +\S+\/health/.test(out) && resolve();
      npm.stdout!.on('data', check);
    });
    await Promise.race([up, exited.then(() => Promise.reject(new Error(`npm start exited early:\n${out}\n${err}`)))]);

    expect(out).toContain(`voice ${VOICE}`);
    // The URLs come last, after each service's own "ready" line, where a user looks for them.
    for (const ready of ['"msg":"TTS worker tts0 ready', '"msg":"Orchestrator ready']) {
      const at = out.indexOf(ready);
      expect(at, ready).toBeGreaterThan(-1);
      expect(at, ready).toBeLessThan(out.indexOf('Voice chat is up'));
    }
    const ws = /WebSocket: ws:\/\/localhost:(\d+)/.exec(out)?.[1];
    const http = /HTTP: +http:\/\/localhost:(\d+)\/health/.exec(out)?.[1];
    const browser = /Browser: +http:\/\/localhost:(\d+)\//.exec(out)?.[1];
    expect([ws, http, browser]).toEqual([env.ORCH_WS_PORT, env.ORCH_HTTP_PORT, env.ORCH_HTTP_PORT]);

    const health = await fetch(`http://127.0.0.1:${http}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const page = await fetch(`http://127.0.0.1:${browser}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);

    const messages: Msg[] = [];
    const socket = new WebSocket(`ws://127.0.0.1:${ws}`);
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Msg;
        messages.push(m);
        if (m.type === 'state' && m.state === 'LISTENING' && messages.filter((x) => x.type === 'state').length === 1) {
          socket.send(JSON.stringify({ type: 'text', text: 'Hello from the one command.', is_final: true }));
        }
        if (m.type === 'done') resolve();
      });
      socket.on('error', reject);
    });
    socket.close();
    const audio = messages.filter((m) => m.type === 'audio');
    expect(audio.length).toBeGreaterThan(25); // over half a second of speech
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
    expect(messages.filter((m) => m.type === 'state').map((m) => m.state).slice(0, 2)).toEqual(['LISTENING', 'SPEAKING']);

    // What Ctrl-C does to the service (npm, given the same signal, would exit by it whatever the
    // service did): it shuts down and exits 0, and npm with it.
    const node = findDescendant(npm.pid!, 'scripts/start.ts');
    expect(node, 'the node process under npm').toBeDefined();
    expect(processArgv(node!), 'compiled, as npm run worker').toContain('scripts/compiled.mjs');
    // With REALTIME_PRIORITY=0: no realtime priority anywhere.
    for (const tid of readdirSync(`/proc/${node}/task`).map(Number)) expect(threadScheduling(node!, tid).policy).toBe('other');
    process.kill(node!, 'SIGINT');
    const [code, signal] = await exited;
    expect({ code, signal }, `${out}\n${err}`).toEqual({ code: 0, signal: null });

    // Log lines are JSON, each naming the service that wrote it once: a key written twice is
    // read as either value (or rejected) by log shippers.
    const logLines = out.split('\n').filter((l) => l.startsWith('{'));
    for (const line of logLines) expect(line.match(/"service":/g), line).toHaveLength(1);
    const services = new Set(logLines.map((l) => (JSON.parse(l) as { service: string }).service));
    expect([...services].sort()).toEqual(['orchestrator', 'tts-worker', 'voice-stack']);
  }, 180_000);
});

/**
 * A port already taken (most often by an instance left running) ends the service with one
 * message naming the port and the variable that moves it: grpc-js reports the bind failure only
 * in its message, Node's listen errors carry the port.
 */
/** Runs `npm start` or `npm run <script>` to its exit; what it wrote to stderr. */
async function runToExit(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; err: string }> {
  const npm = npmRun(script === 'start' ? ['start', '--silent'] : ['run', '-s', script], { ...process.env, REDIS_URL: '', REALTIME_PRIORITY: '0', LOG_LEVEL: 'warn', ...env });
  let err = '';
  npm.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(npm, 'exit')) as [number | null];
  return { code, err };
}

describe('a bad LOG_LEVEL', () => {
  it.each([
    ['worker', `Cannot load worker config ${join(ROOT, 'configs', 'worker.yaml')}:\n  - log_level: `],
    ['orchestrator', `Cannot load orchestrator config ${join(ROOT, 'configs', 'orchestrator.yaml')}:\n  - log_level: `],
    ['start', 'LOG_LEVEL: '],
  ] as const)('npm %s: exits 1 with one message naming the setting and the file a user edits, no stack trace', async (script, prefix) => {
    const r = await runToExit(script, { LOG_LEVEL: 'verbose', DEFAULT_MODEL: VOICE, TTS_WORKER_ADDR: 'grpc://127.0.0.1:1' });
    expect(r.code, r.err).toBe(1);
    expect(r.err).toContain(`${prefix}expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"`);
    expect(r.err).not.toContain('dist/server'); // the compiled services' copy, not what a user edits
    expect(r.err).not.toMatch(/\n\s+at /);
  }, 120_000);
});

describe('a port already in use', () => {
  const run = runToExit;

  it.each([
    ['worker', 'WORKER_PORT', (taken: number, free: number) => ({ WORKER_PORT: String(taken), WORKER_HTTP_PORT: String(free), DEFAULT_MODEL: VOICE })],
    ['orchestrator', 'ORCH_HTTP_PORT', (taken: number, free: number) => ({ ORCH_HTTP_PORT: String(taken), ORCH_WS_PORT: String(free), TTS_WORKER_ADDR: 'grpc://127.0.0.1:1' })],
    ['start', 'ORCH_WS_PORT', async (taken: number) => ({
      ORCH_WS_PORT: String(taken),
      ORCH_HTTP_PORT: String(await freePort()),
      WORKER_PORT: String(await freePort()),
      WORKER_HTTP_PORT: String(await freePort()),
      DEFAULT_MODEL: VOICE,
    })],
  ] as const)('npm %s: exits 1 naming the port and %s', async (script, variable, env) => {
    if (script !== 'orchestrator') requireRealVoice(VOICE);
    const holder = createServer();
    const taken = await new Promise<number>((resolve) => holder.listen(0, '0.0.0.0', () => resolve((holder.address() as AddressInfo).port)));
    try {
      const r = await run(script, await env(taken, await freePort()));
      expect(r.code, r.err).toBe(1);
      expect(r.err).toContain(`Port ${taken} (${variable}) is already in use: another instance is probably still running`);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      holder.close();
    }
  }, 120_000);
});
