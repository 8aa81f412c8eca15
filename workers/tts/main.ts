/** `npm run worker`: the TTS worker configured by configs/worker.yaml and the environment. */
import { ConfigError, loadWorkerConfig } from './config.js';
import { startWorker } from './server.js';
import { describeRealtime, requestRealtimePriority } from '../../platform/realtime-priority.js';

try {
  const config = loadWorkerConfig(process.env.WORKER_CONFIG);
  const worker = await startWorker(config);
  const realtime = requestRealtimePriority(config.realtime_priority);
  worker.logger.info({ realtime: realtime.granted }, describeRealtime(realtime));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void worker.shutdown(signal).then(() => process.exit(0));
    });
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `TTS worker failed to start: ${(err as Error).message}`);
  process.exit(1);
}
