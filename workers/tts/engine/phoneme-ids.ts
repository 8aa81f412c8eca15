export const PAD = '_';
export const BOS = '^';
export const EOS = '$';

export type PhonemeIdMap = Readonly<Record<string, readonly number[]>>;

export interface PhonemeIdsResult {
  ids: number[];
  /** Phonemes with no id in the voice's map; dropped, as Piper does. */
  missing: string[];
}

/** Piper's interleaving: `^`, then each phoneme followed by `_`, then `$`. */
export function phonemesToIds(phonemes: readonly string[], idMap: PhonemeIdMap): PhonemeIdsResult {
  const ids: number[] = [];
  const missing: string[] = [];
  const pad = idMap[PAD] ?? [];
  ids.push(...(idMap[BOS] ?? []), ...pad);
  for (const phoneme of phonemes) {
    const mapped = idMap[phoneme];
    if (!mapped) {
      missing.push(phoneme);
      continue;
    }
    ids.push(...mapped, ...pad);
  }
  ids.push(...(idMap[EOS] ?? []));
  return { ids, missing };
}
