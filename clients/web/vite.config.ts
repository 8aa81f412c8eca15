/**
 * The browser client: `npm run build` (→ clients/web/dist, served by the orchestrator on its
 * HTTP port) and `npm run web:dev` (Vite's dev server, proxying the orchestrator's HTTP API,
 * the inspection hub and the WebSocket transport).
 *
 * `virtual:session-graph` is the session machine laid out as a graph, computed here from
 * machines/session-machine.ts when the page is built, so the live view ships plain JSON.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { sessionMachine } from '../../machines/session-machine.js';
import { buildSessionGraph } from './build/session-graph.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const ORCH_HTTP = process.env.ORCH_HTTP_URL ?? 'http://127.0.0.1:8081';
const ORCH_WS = process.env.ORCH_WS_URL ?? 'ws://127.0.0.1:8080';

function sessionGraphPlugin(): Plugin {
  const id = 'virtual:session-graph';
  const resolved = `\0${id}`;
  return {
    name: 'session-graph',
    resolveId: (source) => (source === id ? resolved : undefined),
    async load(source) {
      if (source !== resolved) return undefined;
      const graph = await buildSessionGraph(sessionMachine);
      return `export default ${JSON.stringify(graph)};`;
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [sessionGraphPlugin()],
  build: {
    outDir: process.env.WEB_OUT_DIR ?? 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // livekit-client (~530 kB) is its own chunk, loaded only in LiveKit mode.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      input: { index: `${here}index.html`, live: `${here}live.html` },
    },
  },
  server: {
    port: 5173,
    proxy: {
      '/api': ORCH_HTTP,
      '/health': ORCH_HTTP,
      '/ready': ORCH_HTTP,
      '/sessions': ORCH_HTTP,
      '/metrics': ORCH_HTTP,
      '/inspect': { target: ORCH_HTTP.replace(/^http/, 'ws'), ws: true },
      // The WebSocket transport (port 8080) behind the dev server's own origin.
      '/ws': { target: ORCH_WS, ws: true, rewrite: () => '/' },
    },
  },
});
