/**
 * `npm start`: the embedded default on one machine — one Piper worker and the orchestrator in
 * this process, static discovery, no Docker or Redis. Prints the URLs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { LOG_LEVELS } from '../configs/fields.js';
import { orchestratorConfigFromEnv, startOrchestrator } from '../orchestrator/server.js';
import { DEFAULT_WEB_DIR } from '../orchestrator/web-client.js';
import { loadWorkerConfig } from '../workers/tts/config.js';
import { createLogger } from '../workers/tts/logger.js';
import { startWorker } from '../workers/tts/server.js';
import { logRealtime, requestRealtimePriority } from '../platform/realtime-priority.js';
import { inferenceTuningFor } from '../workers/tts/scheduling.js';
import { portInUseMessage } from '../platform/port-in-use.js';
import { downloadVoice } from '../workers/tts/voices/download.js';
import { DEFAULT_VOICE_ID, listVoiceIds, voicepacksDir } from '../workers/tts/voices/voicepack.js';

const level = process.env.LOG_LEVEL || 'info';
if (!(LOG_LEVELS as readonly string[]).includes(level)) {
  // Checked before the first logger exists: pino would end here with a stack trace.
  console.error(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  process.exit(1);
}
// One root logger per service, not children of one: a pino child binding `service` again would
// write the key twice in every line (`"service":"voice-stack",…,"service":"tts-worker"`), which
// log shippers read as the first value or reject. One stdout stream keeps the lines in order.
const stdout = pino.destination(1);
const logger = createLogger('voice-stack', level, stdout);

async function chooseVoice(): Promise<string> {
  const wanted = process.env.DEFAULT_MODEL;
  const installed = listVoiceIds().filter((id) => !id.includes('test-tiny'));
  if (wanted) return wanted;
  if (installed.includes(DEFAULT_VOICE_ID)) return DEFAULT_VOICE_ID;
  if (installed.length > 0) {
    logger.info({ voice: installed[0] }, `Default voice ${DEFAULT_VOICE_ID} not installed; using ${installed[0]}`);
    return installed[0] as string;
  }
  logger.info(`No voice installed; downloading ${DEFAULT_VOICE_ID} into ${voicepacksDir()}`);
  let lastPct = -1;
  try {
    await downloadVoice(DEFAULT_VOICE_ID, {
      onProgress: (p) => {
        const pct = Math.floor((p.bytes / Math.max(1, p.total)) * 100);
        if (pct !== lastPct && pct % 10 === 0) {
          lastPct = pct;
          process.stderr.write(`  ${p.file}: ${pct}%\n`);
        }
      },
    });
  } catch (err) {
    console.error(
      `No voice is installed and ${DEFAULT_VOICE_ID} could not be downloaded (${(err as Error).message}).\n` +
        `Run \`npm run voices:download -- ${DEFAULT_VOICE_ID}\` when online, or place a Piper voice in ${voicepacksDir()}/piper/<voice-id>/.`,
    );
    process.exit(1);
  }
  return DEFAULT_VOICE_ID;
}

/** The browser client is served from its build: build it once if it is missing (a few seconds). */
function ensureWebClient(): void {
  if (existsSync(join(DEFAULT_WEB_DIR, 'index.html'))) return;
  // From the sources or from their build (dist/server links clients/ back to the repository):
  // Vite runs on the real directory, whose config imports the session machine by relative path.
  let web: string;
  let vite: string;
  try {
    web = realpathSync(dirname(DEFAULT_WEB_DIR));
    vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  } catch {
    logger.warn('The browser client is not built and its sources or Vite are missing: run `npm install` then `npm run build`');
    return;
  }
  logger.info('Building the browser client (npm run build)');
  const r = spawnSync(process.execPath, [vite, 'build', web, '--logLevel', 'warn'], { cwd: dirname(dirname(web)), stdio: 'inherit' });
  if (r.status !== 0) logger.warn('Building the browser client failed: the page will say so; run `npm run build` to see why');
}

ensureWebClient();
const voice = await chooseVoice();
const workerConfig = loadWorkerConfig(undefined, { ...process.env, DEFAULT_MODEL: voice, REDIS_URL: '', WORKER_HOST: '127.0.0.1' });
// One event loop serves both: the worker's setting (REALTIME_PRIORITY sets both files' keys).
// Asked before the voice loads: its onnxruntime threads are set up to suit the loop.
const realtime = requestRealtimePriority(workerConfig.realtime_priority);
const inference = inferenceTuningFor(realtime);
const orchestratorConfig = orchestratorConfigFromEnv();
const ports = {
  [workerConfig.port]: 'WORKER_PORT',
  [workerConfig.http_port]: 'WORKER_HTTP_PORT',
  [orchestratorConfig.wsPort]: 'ORCH_WS_PORT',
  [orchestratorConfig.httpPort]: 'ORCH_HTTP_PORT',
};
/** A port already taken (most often by an `npm start` still running) ends here with one message. */
async function listening<T>(starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    const message = portInUseMessage(err, ports);
    if (!message) throw err;
    console.error(message);
    process.exit(1);
  }
}
const worker = await listening(startWorker({ ...workerConfig, host: '127.0.0.1' }, { logger: createLogger('tts-worker', level, stdout), inference }));
const orchestrator = await listening(
  startOrchestrator(
    { ...orchestratorConfig, voice, staticWorkers: [`grpc://127.0.0.1:${worker.grpcPort}`], redisUrl: null },
    createLogger('orchestrator', level, stdout),
  ),
);
logRealtime(realtime, logger, { inference_spinning: inference.spinning });
const httpPort = (orchestrator.http.server.address() as { port: number }).port;
// Through the loggers' stream, not console.log: that stream writes asynchronously, so a
// console.log here came out before the services' own "ready" lines, and the URLs were not last.
stdout.write(
  `\n  Voice chat is up (voice ${voice}).\n  Browser:   http://localhost:${httpPort}/  (live sessions: http://localhost:${httpPort}/live.html)\n` +
    `  WebSocket: ws://localhost:${orchestrator.ws.port}\n  HTTP:      http://localhost:${httpPort}/health\n`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (async () => {
      await orchestrator.shutdown();
      await worker.shutdown(signal);
      process.exit(0);
    })();
  });
}
