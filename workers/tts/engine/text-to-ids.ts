import type { PiperConfig } from '../voices/voicepack.js';
import { phonemesToIds } from './phoneme-ids.js';
import { phonemizeSpans, type SentencePhonemes } from './phonemize.js';

export interface SentenceIds {
  phonemes: SentencePhonemes;
  ids: number[];
  /** Where the sentence's text ends in the input (UTF-16 index). */
  textEnd: number;
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
  const sentences = phonemizeSpans(text, { voice, vowelClusters }).map(({ phonemes, textEnd }) => {
    const r = phonemesToIds(phonemes, config.phoneme_id_map);
    missing.push(...r.missing);
    return { phonemes, ids: r.ids, textEnd };
  });
  return { sentences, missing };
}
