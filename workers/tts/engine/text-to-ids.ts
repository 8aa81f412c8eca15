import type { PiperConfig } from '../voices/voicepack.js';
import { phonemesToIds } from './phoneme-ids.js';
import { phonemize, type SentencePhonemes } from './phonemize.js';

export interface SentenceIds {
  phonemes: SentencePhonemes;
  ids: number[];
}

export interface TextIds {
  sentences: SentenceIds[];
  /** Phonemes the voice has no id for (dropped). */
  missing: string[];
}

/** Text to Piper model input, one id sequence per sentence. */
export function phonemeIdsForText(text: string, config: PiperConfig): TextIds {
  const voice = config.espeak?.voice ?? 'en-us';
  const vowelClusters = (config as { vowel_clusters?: string[][] }).vowel_clusters;
  const missing: string[] = [];
  const sentences = phonemize(text, { voice, vowelClusters }).map((phonemes) => {
    const r = phonemesToIds(phonemes, config.phoneme_id_map);
    missing.push(...r.missing);
    return { phonemes, ids: r.ids };
  });
  return { sentences, missing };
}
