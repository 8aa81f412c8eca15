import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A port nothing listens on right now (the OS picks it; a race with other processes is possible but rare). */
/**
 * A port that is free now, for a server a test starts later. Chosen below the kernel's ephemeral
 * range (32768+ here): a port the OS gave away with `listen(0)` can be taken by another test's
 * `listen(0)` before our server binds it (it happened: EADDRINUSE for a compose-stack worker),
 * while nothing else picks ports in 20000–32767. Checked on all addresses, as services bind them.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_768);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, () => resolve(true));
    });
    if (!bound) continue;
    server.close();
    await once(server, 'close');
    return port;
  }
  throw new Error('no free port found in 20000-32767');
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
