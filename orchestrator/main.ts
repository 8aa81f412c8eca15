/** `npm run orchestrator`: the orchestrator alone, configured by configs/orchestrator.yaml and the environment. */
import { ConfigError } from '../configs/load.js';
import { orchestratorConfigFromEnv, startOrchestrator } from './server.js';
import { applyRealtimePriority } from '../platform/realtime-priority.js';
import { createLogger } from '../workers/tts/logger.js';
import { portInUseMessage } from '../platform/port-in-use.js';

let ports: Record<number, string> = {};
try {
  const config = orchestratorConfigFromEnv();
  ports = { [config.wsPort]: 'ORCH_WS_PORT', [config.httpPort]: 'ORCH_HTTP_PORT' };
  const logger = createLogger('orchestrator', config.logLevel);
  const orchestrator = await startOrchestrator(config, logger);
  applyRealtimePriority(config.realtimePriority ?? 0, logger);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void orchestrator.shutdown().then(() => process.exit(0)));
  }
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : (portInUseMessage(err, ports) ?? `Orchestrator failed to start: ${(err as Error).message}`));
  process.exit(1);
}
