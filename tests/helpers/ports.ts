import { once } from 'node:events';
import { createServer } from 'node:net';

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

/** This process's slice of the range (outside vitest, a random one). */
const SLICE = ((): { start: number; size: number } => {
  const size = Math.floor(PORT_SPAN / FORK_SLICES);
  const pool = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
  const index = Number.isInteger(pool) && pool > 0 ? (pool - 1) % FORK_SLICES : Math.floor(Math.random() * FORK_SLICES);
  return { start: PORT_BASE + index * size, size };
})();

/** A port that is free now and not yet handed out by this process, for a server a test starts later. Checked on all addresses, as services bind them. */
export async function freePort(): Promise<number> {
  const { start, size } = SLICE;
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
