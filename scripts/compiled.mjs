#!/usr/bin/env node
// Runs a service from its compiled JavaScript (`npm run build:server` output, dist/server), as
// the container images do, rebuilding first when any source is newer than the build:
//   node [node flags] scripts/compiled.mjs workers/tts/main.ts   (npm run worker; npm start)
// Why not tsx: its loader (esbuild, and a module-hooks thread) stays resident, ~15-30 MB of RSS
// in every process it starts (measured: the worker peaked 298-302 MB compiled against 316 MB
// under tsx, alternating runs). The build takes ~5 s and runs only after a change.
// Plain JavaScript so it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const SERVER_BUILD_DIR = join(root, 'dist', 'server');
const STAMP = join(SERVER_BUILD_DIR, '.sources-mtime');
/** What build:server compiles or copies (tsconfig.build.json) and what decides its output. */
const SOURCES = ['workers', 'platform', 'machines', 'actors', 'transports', 'orchestrator', 'configs', 'scripts/voices-download.ts', 'scripts/start.ts', 'scripts/build-server.mjs', 'scripts/healthcheck.mjs', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestMtime(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs; // a deleted file shows only as its directory's change
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

const sourcesMtime = () => Math.max(...SOURCES.map((s) => newestMtime(join(root, s))));
const builtFrom = () => (existsSync(STAMP) ? Number(readFileSync(STAMP, 'utf8')) : -1);
const compilerInstalled = () => {
  try {
    createRequire(import.meta.url).resolve('typescript/bin/tsc');
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * One build at a time: `npm run worker` and `npm run orchestrator` started together after a
 * `git pull` would otherwise both rebuild the same directory. A lock left by a dead process is
 * taken over.
 */
function withBuildLock(fn) {
  const lock = join(dirname(SERVER_BUILD_DIR), '.server-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8') || 0);
      if (holder > 0 && !alive(holder)) rmSync(lock, { force: true });
      else sleep(100);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Builds dist/server unless it is newer than every source; returns its directory. */
export function ensureServerBuild({ quiet = false } = {}) {
  const stale = builtFrom() !== sourcesMtime();
  if (stale && !compilerInstalled()) {
    // An install without dev dependencies (npm ci --omit=dev) can run a build, not make one.
    if (!existsSync(STAMP)) throw new Error('The services are not compiled and TypeScript is not installed: run `npm install`, then this command again');
    process.stderr.write('The sources changed since dist/server was built, but TypeScript is not installed to rebuild it: running the existing build (`npm install` to rebuild)\n');
  } else if (stale) {
    withBuildLock(() => {
      const sources = sourcesMtime();
      if (builtFrom() === sources) return; // another process built it while this one waited
      if (!quiet) process.stderr.write('Compiling the services (npm run build:server)...\n');
      // Built beside, then swapped in: a service already running from dist/server (it loads some
      // files late: the inference thread, the model preparation) never sees it half written.
      const next = `${SERVER_BUILD_DIR}.next`;
      execFileSync(process.execPath, [join(root, 'scripts', 'build-server.mjs'), '--out', next], { stdio: quiet ? 'ignore' : ['ignore', 'ignore', 'inherit'] });
      writeFileSync(join(next, '.sources-mtime'), String(sources));
      // The YAML configs as links to the repository's: a config error then names
      // configs/worker.yaml, the file a user edits, not a copy the next build replaces.
      for (const f of readdirSync(join(next, 'configs')).filter((f) => f.endsWith('.yaml'))) {
        rmSync(join(next, 'configs', f));
        symlinkSync(join(root, 'configs', f), join(next, 'configs', f));
      }
      const old = `${SERVER_BUILD_DIR}.old`;
      rmSync(old, { recursive: true, force: true });
      if (existsSync(SERVER_BUILD_DIR)) renameSync(SERVER_BUILD_DIR, old);
      renameSync(next, SERVER_BUILD_DIR);
      rmSync(old, { recursive: true, force: true });
    });
  }
  // Found beside the code, as in the repository: eSpeak NG's vendored copy (npm run
  // setup:espeak), the browser client (clients/web/dist, served by the orchestrator) and the
  // voices (unless VOICEPACKS_DIR says otherwise; the images mount theirs). node_modules is
  // found by Node's lookup from dist/server upwards.
  for (const dir of ['vendor', 'clients', 'voicepacks']) {
    const link = join(SERVER_BUILD_DIR, dir);
    if (!existsSync(link) && existsSync(join(root, dir))) {
      try {
        symlinkSync(join(root, dir), link);
      } catch (err) {
        if (err.code !== 'EEXIST') throw err; // made by a process starting alongside
      }
    }
  }
  return SERVER_BUILD_DIR;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const source = process.argv[2];
  if (!source || !/\.ts$/.test(source)) {
    console.error('usage: node scripts/compiled.mjs <entry.ts> [args...]');
    process.exit(2);
  }
  let dir;
  try {
    dir = ensureServerBuild();
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
  const entry = join(dir, relative(root, resolve(root, source)).replace(/\.ts$/, '.js'));
  if (!existsSync(entry)) {
    console.error(`${source} is not part of the server build (tsconfig.build.json "include")`);
    process.exit(2);
  }
  process.argv.splice(1, 2, entry);
  await import(pathToFileURL(entry).href);
}
