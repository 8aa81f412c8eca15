/**
 * `window.__duplex`: what browser tests (and curious developers in the console) read and drive.
 * Everything is measured in the page; times are performance.now() milliseconds.
 */
import type { DuplexHooks } from '../shared/hook-types.js';
import type { ChatSession } from './session.js';

declare global {
  interface Window {
    __duplex: DuplexHooks;
  }
}

export function installHooks(getSession: () => ChatSession | undefined): DuplexHooks {
  const hooks: DuplexHooks = {
    mode: null,
    connection: 'idle',
    error: null,
    get sessionId() {
      return getSession()?.sessionId ?? null;
    },
    get state() {
      return getSession()?.state ?? 'IDLE';
    },
    get states() {
      return getSession()?.states ?? [];
    },
    get events() {
      return getSession()?.messages ?? [];
    },
    get framesReceived() {
      return getSession()?.framesReceived ?? 0;
    },
    get texts() {
      return getSession()?.texts ?? [];
    },
    get bargeIns() {
      return getSession()?.bargeIns ?? [];
    },
    get peakLevel() {
      return getSession()?.peakOutputDb ?? -120;
    },
    get analyserLastAudibleAt() {
      return getSession()?.analyserLastAudibleAt ?? null;
    },
    analyserLevel: () => getSession()?.engine.outputLevel() ?? -120,
    audioStats: () => getSession()?.playbackStats() ?? null,
    freshAudioStats: async () => (await getSession()?.engine.freshStats()) ?? null,
    outputLatencyMs: () => getSession()?.engine.outputLatencyMs() ?? 0,
    mic: {
      gate: (mode) => getSession()?.setGate(mode),
      mode: () => getSession()?.engine.gateMode ?? null,
    },
    send: (text) => void getSession()?.sendText(text),
    control: (command) => getSession()?.control(command),
  } as DuplexHooks;
  window.__duplex = hooks;
  return hooks;
}
