import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { webClientPlugin } from '../../orchestrator/web-client.js';

describe('orchestrator: the browser client at / (static files from the build)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function app(root: string) {
    const http = Fastify();
    http.get('/health', async () => ({ status: 'ok' }));
    await http.register(webClientPlugin, { root });
    return http;
  }

  it('serves the pages (never cached) and hashed assets (cached), and leaves the API alone', async () => {
    const root = mkdtempSync(join(tmpdir(), 'web-'));
    dirs.push(root);
    mkdirSync(join(root, 'assets'));
    writeFileSync(join(root, 'index.html'), '<title>chat</title>');
    writeFileSync(join(root, 'live.html'), '<title>live</title>');
    writeFileSync(join(root, 'assets', 'index-abc123.js'), 'console.log(1)');
    const http = await app(root);
    const index = await http.inject('/');
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toMatch(/text\/html/);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.body).toContain('chat');
    expect((await http.inject('/live.html')).body).toContain('live');
    expect((await http.inject('/live')).body).toContain('live');
    const asset = await http.inject('/assets/index-abc123.js');
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await http.inject('/health')).json()).toEqual({ status: 'ok' });
    expect((await http.inject('/nope.js')).statusCode).toBe(404);
    expect((await http.inject('/../package.json')).statusCode).toBe(404);
    await http.close();
  });

  it('without a build the pages say to run npm run build; a later build is served without a restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'web-'));
    dirs.push(root);
    const http = await app(root);
    const res = await http.inject('/');
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
    expect((await http.inject('/live.html')).body).toContain('npm run build');
    expect((await http.inject('/health')).statusCode).toBe(200);
    writeFileSync(join(root, 'index.html'), '<title>built now</title>');
    expect((await http.inject('/')).body).toContain('built now');
    await http.close();
  });
});
