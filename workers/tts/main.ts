/** `npm run worker`: the TTS worker configured by configs/worker.yaml and the environment. */
import { ConfigError, loadWorkerConfig } from './config.js';
import { startWorker } from './server.js';
import { logRealtime, requestRealtimePriority } from '../../platform/realtime-priority.js';
import { portInUseMessage } from '../../platform/port-in-use.js';
import { inferenceTuningFor } from './scheduling.js';

let ports: Record<number, string> = {};
try {
  const config = loadWorkerConfig(process.env.WORKER_CONFIG);
  ports = { [config.port]: 'WORKER_PORT', [config.http_port]: 'WORKER_HTTP_PORT' };
  // Asked before the voices load: their onnxruntime threads are set up to suit the loop.
  const realtime = requestRealtimePriority(config.realtime_priority);
  const inference = inferenceTuningFor(realtime);
  const worker = await startWorker(config, { inference });
  logRealtime(realtime, worker.logger, { inference_spinning: inference.spinning });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void worker.shutdown(signal).then(() => process.exit(0));
    });
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : (portInUseMessage(err, ports) ?? `TTS worker failed to start: ${(err as Error).message}`));
  process.exit(1);
}
