import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` puts the browser client. */
export const DEFAULT_WEB_DIR = resolve(fileURLToPath(new URL('../clients/web/dist', import.meta.url)));

const PAGES = new Map([
  ['/', 'index.html'],
  ['/index.html', 'index.html'],
  ['/live', 'live.html'],
  ['/live.html', 'live.html'],
]);

/**
 * Fastify plugin: the built browser client (clients/web/dist) at `/`, the live session view at
 * `/live.html` (and `/live`). Hashed assets are cached for a year, pages never. Without a build
 * the pages answer 503 with what to run; the API routes are unaffected either way.
 */
export async function webClientPlugin(app: FastifyInstance, opts: { root?: string }): Promise<void> {
  const root = resolve(opts.root ?? DEFAULT_WEB_DIR);
  const built = () => existsSync(join(root, 'index.html'));
  await app.register(fastifyStatic, {
    root,
    index: false,
    // Registered even before the first build, so a later `npm run build` needs no restart.
    setHeaders: (reply, path) => {
      reply.header('cache-control', path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const notBuilt = `The browser client is not built. Run \`npm run build\` (it writes ${root}), then reload this page.\n`;
  for (const [url, file] of PAGES) {
    app.get(url, async (_req, reply) => {
      if (!built()) return reply.code(503).type('text/plain; charset=utf-8').send(notBuilt);
      return reply.header('cache-control', 'no-cache').sendFile(file);
    });
  }
}
