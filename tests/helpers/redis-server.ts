import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

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
