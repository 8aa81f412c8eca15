/** `npm run orchestrator`: the orchestrator alone, configured by configs/orchestrator.yaml and the environment. */
import { ConfigError } from '../configs/load.js';
import { orchestratorConfigFromEnv, startOrchestrator } from './server.js';
import { describeRealtime, requestRealtimePriority } from '../platform/realtime-priority.js';
import { createLogger } from '../workers/tts/logger.js';

try {
  const config = orchestratorConfigFromEnv();
  const logger = createLogger('orchestrator', config.logLevel);
  const orchestrator = await startOrchestrator(config, logger);
  const realtime = requestRealtimePriority(config.realtimePriority ?? 0);
  logger.info({ realtime: realtime.granted }, describeRealtime(realtime));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void orchestrator.shutdown().then(() => process.exit(0)));
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `Orchestrator failed to start: ${(err as Error).message}`);
  process.exit(1);
}
