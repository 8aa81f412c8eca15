/**
 * LiveKit settings of the orchestrator (`livekit:` in configs/orchestrator.yaml) and the rules
 * that make the orchestrator refuse to start with them.
 */

/** LiveKit's well-known development credentials (`livekit-server --dev`). */
export const DEV_API_KEY = 'devkey';
export const DEV_API_SECRET = 'secret';

export interface LiveKitSettings {
  /** What the orchestrator's agent connects to, e.g. ws://127.0.0.1:7880. */
  url: string;
  /** What browsers are given (the token endpoint's `url`); defaults to `url`. */
  publicUrl: string;
  apiKey: string;
  apiSecret: string;
  /** Allows LiveKit's development key pair. */
  devMode: boolean;
  /** The agent participant's identity in every room. */
  agentIdentity: string;
  /** How long an agent waits in a room for its user before it leaves (ms). */
  idleTimeoutMs: number;
}

export interface LiveKitSettingsProblem {
  /** The config key at fault, relative to the `livekit:` section. */
  key: 'url' | 'public_url' | 'api_key' | 'api_secret';
  message: string;
}

const WS_URL = /^(wss?|https?):\/\/[^\s/]+/;

/**
 * Everything wrong with a LiveKit section, empty when it may be used. `url` empty means LiveKit is
 * off; the development key pair is refused outside development mode even then, so a deployment
 * that copied it never starts with it by accident.
 */
export function liveKitSettingsProblems(s: { url: string; publicUrl: string; apiKey: string; apiSecret: string; devMode: boolean }): LiveKitSettingsProblem[] {
  const problems: LiveKitSettingsProblem[] = [];
  const devHint = 'LiveKit development credentials are accepted only with livekit.dev_mode: true (LIVEKIT_DEV=true); generate a key pair for anything else';
  if (!s.devMode && s.apiKey === DEV_API_KEY) problems.push({ key: 'api_key', message: `"${DEV_API_KEY}" is LiveKit's development key. ${devHint}` });
  if (!s.devMode && s.apiSecret === DEV_API_SECRET) problems.push({ key: 'api_secret', message: `"${DEV_API_SECRET}" is LiveKit's development secret. ${devHint}` });
  if (s.url !== '' && !WS_URL.test(s.url)) problems.push({ key: 'url', message: `expected a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(s.url)}` });
  if (s.publicUrl !== '' && !WS_URL.test(s.publicUrl)) {
    problems.push({ key: 'public_url', message: `expected a ws://, wss://, http:// or https:// URL, got ${JSON.stringify(s.publicUrl)}` });
  }
  if (s.url !== '') {
    const missing = 'is required when livekit.url is set (LIVEKIT_API_KEY / LIVEKIT_API_SECRET)';
    if (s.apiKey === '') problems.push({ key: 'api_key', message: missing });
    if (s.apiSecret === '') problems.push({ key: 'api_secret', message: missing });
  }
  return problems;
}

/** Throws one error listing every problem (for settings that did not come through the config loader). */
export function assertLiveKitSettings(s: LiveKitSettings): void {
  const problems = liveKitSettingsProblems(s);
  if (problems.length > 0) throw new Error(`Refusing to start with these LiveKit settings:\n${problems.map((p) => `  - livekit.${p.key}: ${p.message}`).join('\n')}`);
}
