import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { freePort } from '../tests/helpers/ports.js';
import { processPeakRssMb } from './stats.js';
import { TTSServiceClient } from '../workers/tts/grpc/generated/tts.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * Node flags the worker runs with (package.json `worker`, the Dockerfile and compose commands; a
 * test keeps them equal). A 2 MB young generation: with V8's default (up to 16 MB) the worker
 * ran a full mark-compact about once a second (V8 starts marking early when the old generation's
 * headroom is below the young generation's size) and peaked ~40 MB higher (392 -> 352 MB, worker
 * bench; 81 -> 27 mark-compacts over 100 trials).
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=2'];

/**
 * Environment the worker runs with (package.json `worker`, the Dockerfile's ENV, which compose
 * runs; a test keeps them equal). Two glibc malloc arenas instead of one per thread that allocates (up to 8 per
 * core): the inference thread, onnxruntime's pool thread and Node's own threads then share
 * them, and the freed-but-kept memory of the extra arenas goes (engine, 50 sentences, alternating
 * runs: peak 273-286 MB against 284-298 MB). Read by glibc at process start only: `mallopt`
 * from inside the process (tried, through koffi) comes too late.
 */
export const WORKER_NODE_ENV = { MALLOC_ARENA_MAX: '2' };

export interface WorkerProcess {
  child: ChildProcess;
  client: TTSServiceClient;
  /** A second connection for Control, as the orchestrator's WorkerClient keeps one. */
  controlClient: TTSServiceClient;
  port: number;
  /** Peak resident set size of the worker process (VmHWM), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

/**
 * The worker in its own process, so its memory is its own: with `compiledDir` (`npm run
 * build:server` output) as `npm run worker` and the container images run it, compiled; without,
 * from the sources under tsx.
 */
export async function startWorkerProcess(model: string, env: Record<string, string> = {}, compiledDir?: string): Promise<WorkerProcess> {
  const port = await freePort();
  const httpPort = await freePort();
  const entry = compiledDir ? [join(compiledDir, 'workers', 'tts', 'main.js')] : ['--import', 'tsx', 'workers/tts/main.ts'];
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, ...entry], {
    cwd: compiledDir ?? repoRoot,
    env: {
      ...process.env,
      ...WORKER_NODE_ENV,
      DEFAULT_MODEL: model,
      WORKER_PORT: String(port),
      WORKER_HTTP_PORT: String(httpPort),
      LOG_LEVEL: 'warn',
      REDIS_URL: '',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`worker exited with ${code}`))));
  const client = new TTSServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
  const ready = new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 60_000, (err) => (err ? reject(err) : resolve())),
  );
  await Promise.race([ready, exited]);
  const controlClient = new TTSServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), {
    'grpc.enable_http_proxy': 0,
    'grpc.use_local_subchannel_pool': 1,
  });
  return {
    child,
    client,
    controlClient,
    port,
    peakRssMb: () => processPeakRssMb(child.pid!),
    stop: async () => {
      client.close();
      controlClient.close();
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
