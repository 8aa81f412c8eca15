/** `npm run worker`: the TTS worker configured by configs/worker.yaml and the environment. */
import { ConfigError, loadWorkerConfig } from './config.js';
import { startWorker } from './server.js';
import { applyRealtimePriority } from '../../platform/realtime-priority.js';

try {
  const config = loadWorkerConfig(process.env.WORKER_CONFIG);
  const worker = await startWorker(config);
  applyRealtimePriority(config.realtime_priority, worker.logger);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void worker.shutdown(signal).then(() => process.exit(0));
    });
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `TTS worker failed to start: ${(err as Error).message}`);
  process.exit(1);
}
