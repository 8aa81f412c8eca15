import { espeakClauses, PHONEME_SEPARATOR, type Clause } from './espeak.js';

/** One sentence as Piper feeds it to the model: a list of phonemes (Unicode code points). */
export type SentencePhonemes = string[];

// espeak-ng clause flags (translate.h). The low 20 bits identify the punctuation kind; the
// higher bits (e.g. "dot after last word", "speak punctuation name") are not part of it.
const PUNCTUATION_MASK = 0x000fffff;
const CLAUSE_TYPE_SENTENCE = 0x00080000;
const TERMINATORS = new Map<number, string>([
  [0x80028, '.'], // CLAUSE_PERIOD
  [0x82028, '?'], // CLAUSE_QUESTION
  [0x8302d, '!'], // CLAUSE_EXCLAMATION
  [0x41014, ','], // CLAUSE_COMMA
  [0x4001e, ':'], // CLAUSE_COLON
  [0x4101e, ';'], // CLAUSE_SEMICOLON
]);
// A clause-internal pause: Piper puts a space after it so the next word stays separate.
const CLAUSE_PAUSES = new Set([',', ':', ';']);
// espeak-ng marks words read in another language as "(fr)...(en)"; the model never saw those.
const LANGUAGE_SWITCH = /\([^)]+\)/g;
// `[[ ... ]]` in the text passes raw phonemes straight to the model (a Piper feature).
const RAW_PHONEME_BLOCK = /(\[\[.*?\]\])/g;

const LINKING_YOD_MNEMONIC = ';';
const LINKING_GLIDE = 'ʲ';

/**
 * Joins separated IPA. With `linkingGlide`, espeak-ng's linking yod (mnemonic `;`, inserted
 * after an i-type vowel before another vowel) is written as `ʲ`. That is what the reference
 * piper-tts prints: its bundled eSpeak NG (1.52.0.1) shows that phoneme everywhere (espeak-ng
 * issue #2367), while the 1.52.0 release gives it no IPA there. The mnemonic pass names it.
 */
function joinPhonemes(clause: Clause, linkingGlide: boolean): string {
  const ipa = clause.phonemes.split(PHONEME_SEPARATOR);
  if (!linkingGlide) return ipa.join('');
  const mnemonics = clause.mnemonics.split(PHONEME_SEPARATOR);
  if (mnemonics.length !== ipa.length) return ipa.join('');
  return ipa.map((p, i) => (mnemonics[i]?.startsWith(LINKING_YOD_MNEMONIC) ? LINKING_GLIDE + p : p)).join('');
}

/** Terminator text and sentence flag for espeak-ng's clause flags, as Piper interprets them. */
export function interpretTerminator(flags: number): { terminator: string; endOfSentence: boolean } {
  return {
    terminator: TERMINATORS.get(flags & PUNCTUATION_MASK) ?? '',
    endOfSentence: (flags & CLAUSE_TYPE_SENTENCE) !== 0,
  };
}

function toPhonemeList(ipa: string): string[] {
  // NFD splits accented symbols into base + combining mark: Piper's phoneme ids are per code point.
  return Array.from(ipa.normalize('NFD'));
}

/** Merges adjacent phonemes that a voice declares as one symbol (Piper's `vowel_clusters`). */
function mergeClusters(phonemes: string[], clusters: readonly string[][] | undefined): string[] {
  if (!clusters || clusters.length === 0) return phonemes;
  const keys = new Set(clusters.map((c) => c.join('\u0000')));
  const maxLen = Math.max(...clusters.map((c) => c.length));
  const out: string[] = [];
  for (let i = 0; i < phonemes.length; ) {
    let matched = 0;
    for (let n = Math.min(maxLen, phonemes.length - i); n > 1; n -= 1) {
      if (keys.has(phonemes.slice(i, i + n).join('\u0000'))) {
        matched = n;
        break;
      }
    }
    if (matched > 0) {
      out.push(phonemes.slice(i, i + matched).join(''));
      i += matched;
    } else {
      out.push(phonemes[i] as string);
      i += 1;
    }
  }
  return out;
}

export interface PhonemizeOptions {
  /** eSpeak NG voice, from the voice config's `espeak.voice`. */
  voice: string;
  vowelClusters?: readonly string[][];
  /** Write espeak-ng's linking yod as `ʲ`, as the reference piper-tts does (default true). */
  linkingGlide?: boolean;
}

/** A sentence's phonemes and where its text ends in the input (UTF-16 index). */
export interface SentenceSpan {
  phonemes: SentencePhonemes;
  textEnd: number;
}

function phonemizeEspeak(text: string, opts: PhonemizeOptions, offset: number): SentenceSpan[] {
  const sentences: SentenceSpan[] = [];
  let current: string[] = [];
  for (const clause of espeakClauses(text, opts.voice)) {
    const { terminator, endOfSentence } = interpretTerminator(clause.terminator);
    let ipa = joinPhonemes(clause, opts.linkingGlide ?? true).replace(LANGUAGE_SWITCH, '') + terminator;
    if (CLAUSE_PAUSES.has(terminator)) ipa += ' ';
    current.push(...toPhonemeList(ipa));
    if (endOfSentence) {
      sentences.push({ phonemes: mergeClusters(current, opts.vowelClusters), textEnd: offset + clause.textEnd });
      current = [];
    }
  }
  if (current.length > 0) sentences.push({ phonemes: mergeClusters(current, opts.vowelClusters), textEnd: offset + text.length });
  return sentences;
}

/**
 * Text to phonemes grouped by sentence, the way Piper does it: espeak-ng IPA per clause with the
 * clause's punctuation kept, a space after `,` `:` `;`, a new sentence after `.` `?` `!`.
 */
export function phonemize(text: string, opts: PhonemizeOptions): SentencePhonemes[] {
  return phonemizeSpans(text, opts).map((s) => s.phonemes);
}

/** As `phonemize`, with where each sentence's text ends (to resume after a failure mid-text). */
export function phonemizeSpans(text: string, opts: PhonemizeOptions): SentenceSpan[] {
  const sentences: SentenceSpan[] = [];
  const parts = text.split(RAW_PHONEME_BLOCK);
  let previousWasRaw = false;
  let offset = 0;
  parts.forEach((part, i) => {
    const partStart = offset;
    offset += part.length;
    if (part.startsWith('[[') && part.endsWith(']]')) {
      if (sentences.length === 0) sentences.push({ phonemes: [], textEnd: offset });
      const last = sentences[sentences.length - 1] as SentenceSpan;
      if (i > 0 && parts[i - 1]?.endsWith(' ')) last.phonemes.push(' ');
      last.phonemes.push(...Array.from(part.slice(2, -2).trim()));
      if (i < parts.length - 1 && parts[i + 1]?.startsWith(' ')) last.phonemes.push(' ');
      last.textEnd = offset;
      previousWasRaw = true;
      return;
    }
    if (part.length === 0) return;
    const phonemized = phonemizeEspeak(part, opts, partStart);
    if (previousWasRaw && phonemized.length > 0) {
      const first = phonemized.shift() as SentenceSpan;
      const last = sentences[sentences.length - 1] as SentenceSpan;
      last.phonemes.push(...first.phonemes);
      last.textEnd = first.textEnd;
    }
    sentences.push(...phonemized);
    previousWasRaw = false;
  });
  if (sentences.length > 0 && sentences[sentences.length - 1]?.phonemes.length === 0) sentences.pop();
  return sentences;
}
