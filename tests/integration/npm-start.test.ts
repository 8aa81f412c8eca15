import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { findDescendant } from '../helpers/processes.js';
import { requireRealVoice } from '../support/orchestrator-stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const VOICE = 'en_US-joe-medium';

interface Msg {
  type: string;
  state?: string;
  sequence?: number;
}

/**
 * `npm start`, the README's one command, exactly as a user runs it: one process with the worker
 * and the orchestrator, the URLs printed, a reply spoken over the WebSocket, a clean exit on
 * SIGINT. If the browser client is not built yet, this builds it (clients/web/dist),
 * as `npm start` does for a user.
 */
describe('npm start', () => {
  let npm: ChildProcess | undefined;

  afterAll(() => {
    if (npm?.exitCode === null && npm.pid) process.kill(-npm.pid, 'SIGKILL');
  });

  it('prints its URLs, serves health, the page and a spoken reply, and exits 0 on Ctrl-C', async () => {
    requireRealVoice(VOICE);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEFAULT_MODEL: VOICE,
      ORCH_WS_PORT: String(await freePort()),
      ORCH_HTTP_PORT: String(await freePort()),
      WORKER_PORT: String(await freePort()),
      WORKER_HTTP_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    // As in a user's shell: vitest's NODE_ENV=test would, among others, make Vite build a
    // development bundle.
    delete env.NODE_ENV;
    npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    npm.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = once(npm, 'exit');

    const up = new Promise<void>((resolve) => {
      const check = () => /Voice chat is up/.test(out) && /HTTP: +\S+\/health/.test(out) && resolve();
      npm!.stdout!.on('data', check);
    });
    await Promise.race([up, exited.then(() => Promise.reject(new Error(`npm start exited early:\n${out}\n${err}`)))]);

    expect(out).toContain(`voice ${VOICE}`);
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
    process.kill(node!, 'SIGINT');
    const [code, signal] = await exited;
    expect({ code, signal }, `${out}\n${err}`).toEqual({ code: 0, signal: null });
  }, 180_000);
});
