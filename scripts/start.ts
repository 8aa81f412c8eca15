/**
 * `npm start`: the embedded default on one machine — one Piper worker and the orchestrator in
 * this process, static discovery, no Docker or Redis. Prints the URLs.
 */
import { orchestratorConfigFromEnv, startOrchestrator } from '../orchestrator/server.js';
import { loadWorkerConfig } from '../workers/tts/config.js';
import { createLogger } from '../workers/tts/logger.js';
import { startWorker } from '../workers/tts/server.js';
import { downloadVoice } from '../workers/tts/voices/download.js';
import { DEFAULT_VOICE_ID, listVoiceIds, voicepacksDir } from '../workers/tts/voices/voicepack.js';

const logger = createLogger('voice-stack', process.env.LOG_LEVEL ?? 'info');

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

const voice = await chooseVoice();
const workerConfig = loadWorkerConfig(undefined, { ...process.env, DEFAULT_MODEL: voice, REDIS_URL: '', WORKER_HOST: '127.0.0.1' });
const worker = await startWorker({ ...workerConfig, host: '127.0.0.1' }, { logger: logger.child({ service: 'tts-worker' }) });
const orchestrator = await startOrchestrator(
  { ...orchestratorConfigFromEnv(), voice, staticWorkers: [`grpc://127.0.0.1:${worker.grpcPort}`], redisUrl: null },
  logger.child({ service: 'orchestrator' }),
);
console.log(`\n  Voice chat is up (voice ${voice}).\n  WebSocket: ws://localhost:${orchestrator.ws.port}\n  HTTP:      http://localhost:${(orchestrator.http.server.address() as { port: number }).port}/health\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void (async () => {
      await orchestrator.shutdown();
      await worker.shutdown(signal);
      process.exit(0);
    })();
  });
}
