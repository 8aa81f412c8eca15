#!/usr/bin/env node
// Runs a service from its compiled JavaScript (`npm run build:server` output, dist/server), as
// the container images do, rebuilding first when any source is newer than the build:
//   node [node flags] scripts/compiled.mjs workers/tts/main.ts   (npm run worker; npm start)
// Why not tsx: its loader (esbuild, and a module-hooks thread) stays resident, ~15-30 MB of RSS
// in every process it starts (measured: the worker peaked 298-302 MB compiled against 316 MB
// under tsx, alternating runs). The build takes ~5 s and runs only after a change.
// Plain JavaScript so it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const SERVER_BUILD_DIR = join(root, 'dist', 'server');
const STAMP = join(SERVER_BUILD_DIR, '.sources-mtime');
/** What build:server compiles or copies (tsconfig.build.json) and what decides its output. */
const SOURCES = ['workers', 'machines', 'actors', 'transports', 'orchestrator', 'configs', 'scripts/voices-download.ts', 'scripts/start.ts', 'scripts/build-server.mjs', 'scripts/healthcheck.mjs', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestMtime(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file shows only as its directory's change
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Builds dist/server unless it is newer than every source; returns its directory. */
export function ensureServerBuild({ quiet = false } = {}) {
  const sources = Math.max(...SOURCES.map((s) => newestMtime(join(root, s))));
  const built = existsSync(STAMP) ? Number(readFileSync(STAMP, 'utf8')) : -1;
  if (built !== sources) {
    if (!quiet) process.stderr.write('Compiling the services (npm run build:server)...\n');
    execFileSync(process.execPath, [join(root, 'scripts', 'build-server.mjs')], { stdio: quiet ? 'ignore' : ['ignore', 'ignore', 'inherit'] });
    writeFileSync(STAMP, String(sources));
  }
  // Found beside the code, as in the repository: eSpeak NG's vendored copy (npm run
  // setup:espeak) and the browser client (clients/web/dist, served by the orchestrator).
  // node_modules is found by Node's lookup from dist/server upwards.
  for (const dir of ['vendor', 'clients']) {
    const link = join(SERVER_BUILD_DIR, dir);
    if (!existsSync(link) && existsSync(join(root, dir))) symlinkSync(join(root, dir), link);
  }
  return SERVER_BUILD_DIR;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const source = process.argv[2];
  if (!source || !/\.ts$/.test(source)) {
    console.error('usage: node scripts/compiled.mjs <entry.ts> [args...]');
    process.exit(2);
  }
  const dir = ensureServerBuild();
  const entry = join(dir, relative(root, resolve(root, source)).replace(/\.ts$/, '.js'));
  if (!existsSync(entry)) {
    console.error(`${source} is not part of the server build (tsconfig.build.json "include")`);
    process.exit(2);
  }
  // Voices stay where the repository keeps them (the build has none of its own).
  process.env.VOICEPACKS_DIR ??= join(root, 'voicepacks');
  process.argv.splice(1, 2, entry);
  await import(pathToFileURL(entry).href);
}
