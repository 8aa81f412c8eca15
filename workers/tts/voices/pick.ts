import { listVoiceIds, loadVoicepack, voicepacksDir, VoiceNotFoundError, type Voicepack } from './voicepack.js';

/** A real (non-test) voice: the one asked for, else the first one installed. */
export function pickRealVoice(id?: string, root = voicepacksDir()): Voicepack {
  if (id) return loadVoicepack(id, root);
  for (const candidate of listVoiceIds(root)) {
    const voice = loadVoicepack(candidate, root);
    if (!voice.metadata.tags.includes('test')) return voice;
  }
  throw new VoiceNotFoundError('en_US-lessac-medium', root, 'no real voice is installed');
}
