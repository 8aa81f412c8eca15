import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * Ports below the kernel's ephemeral range (32768+ here): a port the OS gave away with `listen(0)`
 * can be taken by another test's `listen(0)` before our server binds it (it happened: EADDRINUSE
 * for a compose-stack worker). A process never hands out the same port twice: a port is reserved
 * here long before its server binds it, so "free right now" alone does not keep two of our own
 * picks apart (the compose stack reserves ~15 at once; CI once saw caddy's two listeners collide).
 * Parallel forks, when there are cores for them, each get their own slice of 20000–32767.
 */
const PORT_BASE = 20_000;
const PORT_SPAN = 12_768;
const FORK_SLICES = 8;
const handedOut = new Set<number>();

function forkSlice(): { start: number; size: number } {
  const size = Math.floor(PORT_SPAN / FORK_SLICES);
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  const index = Number.isInteger(pool) && pool > 0 ? (pool - 1) % FORK_SLICES : Math.floor(Math.random() * FORK_SLICES);
  return { start: PORT_BASE + index * size, size };
}

/** A port that is free now and not yet handed out by this process, for a server a test starts later. Checked on all addresses, as services bind them. */
export async function freePort(): Promise<number> {
  const { start, size } = forkSlice();
  for (let attempt = 0; attempt < 400; attempt += 1) {
    const port = start + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, () => resolve(true));
    });
    if (!bound) continue;
    server.close();
    await once(server, 'close');
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found in ${start}-${start + size - 1}`);
}

/** Polls `check` (no fixed sleeps: it returns as soon as the condition holds) until it is truthy or the deadline passes. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, intervalMs = 25): Promise<NonNullable<Awaited<T>>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<Awaited<T>>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  /** SIGKILL (a crash) or SIGTERM; resolves once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts a throwaway `redis-server` (no persistence, loopback only) and resolves once it answers
 * PING. Readiness is event-driven: an ioredis client retrying every 20 ms reports `ready`.
 */
export async function startRedisServer(port?: number, timeoutMs = 10_000): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`redis-server on port ${p} exited early (code ${String(code)}): ${stderr}`);
  });
  exited.catch(() => undefined); // only observed through the race below

  const probe = new Redis({ port: p, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => 20 });
  probe.on('error', () => undefined); // connection refused until the server is up
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await probe.connect().catch(() => undefined);
        // Not events.once: that rejects on the 'error' each refused attempt emits.
        if (probe.status !== 'ready') await new Promise((resolve) => probe.once('ready', resolve));
        if ((await probe.ping()) !== 'PONG') throw new Error('unexpected PING reply');
      })(),
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis-server on port ${p} not ready after ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const done = once(child, 'exit');
    child.kill(signal);
    await done;
  };
  return { port: p, url: `redis://127.0.0.1:${p}`, process: child, stop };
}
