import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

/**
 * eSpeak NG through its shared library, called with koffi.
 *
 * Why this route: Piper feeds its model espeak-ng IPA per clause with the clause's punctuation
 * kept, using `espeak_TextToPhonemesWithTerminator` (eSpeak NG >= 1.52). The npm `phonemizer`
 * package (espeak-ng wasm) returns whole-text IPA with punctuation and clause boundaries dropped,
 * and eSpeak NG 1.51 (Debian 12) both lacks that call and transcribes English differently
 * (`oːɹ` for `ɔːɹ`, no `ʲ` glide), which `npm run parity` showed as mismatches. So we bind the
 * same C call Piper makes, on the same eSpeak NG release.
 */

const AUDIO_OUTPUT_SYNCHRONOUS = 0x02;
const ESPEAK_INITIALIZE_DONT_EXIT = 0x8000;
const ESPEAK_CHARS_UTF8 = 1;
const ESPEAK_PHONEMES_IPA = 0x02;
/** Phoneme separator (bits 8-23 of the phoneme mode); it exposes phonemes whose IPA is empty. */
export const PHONEME_SEPARATOR = '|';
const SEPARATOR_BITS = PHONEME_SEPARATOR.charCodeAt(0) << 8;
const ESPEAK_PHONEMES_MNEMONIC = 0x00;
const MIN_VERSION = [1, 52] as const;

const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
/** Where `scripts/setup-espeak.mjs` unpacks eSpeak NG 1.52 on systems that ship an older one. */
export const VENDORED_ESPEAK_DIR = join(repoRoot, 'vendor', 'espeak-ng');

export class EspeakUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `eSpeak NG >= ${MIN_VERSION.join('.')} is required for phonemization (${detail}). ` +
        'Run `npm run setup:espeak` (Debian/Ubuntu: fetches it into vendor/espeak-ng), or install it ' +
        'system-wide (`apt-get install libespeak-ng1` on Debian 13+, `brew install espeak-ng`), ' +
        'or point ESPEAK_NG_LIBRARY (and ESPEAK_DATA_PATH) at one.',
    );
    this.name = 'EspeakUnavailableError';
  }
}

export interface Clause {
  /** IPA for the clause with PHONEME_SEPARATOR between phonemes. */
  phonemes: string;
  /** The same phonemes as espeak-ng's ASCII mnemonics (they name phonemes whose IPA is empty). */
  mnemonics: string;
  /** espeak-ng's clause flags: punctuation kind, intonation and clause type. */
  terminator: number;
  /** Where the clause's text ends in the input (UTF-16 index, after its punctuation). */
  textEnd: number;
}

type TextToPhonemes = (cursor: unknown[], textMode: number, phonemeMode: number, terminator: number[]) => string | null;

interface Binding {
  version: string;
  setVoice: (name: string) => number;
  textToPhonemes: TextToPhonemes;
}

let binding: Binding | undefined;
let currentVoice: string | undefined;

interface Candidate {
  library: string;
  dataPath: string | null;
}

function candidates(): Candidate[] {
  const dataFromEnv = process.env.ESPEAK_DATA_PATH ?? null;
  if (process.env.ESPEAK_NG_LIBRARY) return [{ library: process.env.ESPEAK_NG_LIBRARY, dataPath: dataFromEnv }];
  const list: Candidate[] = [];
  for (const triplet of ['x86_64-linux-gnu', 'aarch64-linux-gnu']) {
    const lib = join(VENDORED_ESPEAK_DIR, 'usr', 'lib', triplet, 'libespeak-ng.so.1');
    // espeak_Initialize wants the directory that contains `espeak-ng-data/`.
    if (existsSync(lib)) list.push({ library: lib, dataPath: dataFromEnv ?? dirname(lib) });
  }
  for (const name of ['libespeak-ng.so.1', 'libespeak-ng.1.dylib', 'libespeak-ng.dylib', 'libespeak-ng.dll']) {
    list.push({ library: name, dataPath: dataFromEnv });
  }
  return list;
}

function versionAtLeast(version: string, min: readonly number[]): boolean {
  const parts = version.split('.').map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < min.length; i += 1) {
    const have = parts[i] ?? 0;
    const want = min[i] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}

function tryLoad(candidate: Candidate): Binding | string {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(candidate.library);
  } catch (err) {
    return `${candidate.library}: ${(err as Error).message}`;
  }
  let textToPhonemes: TextToPhonemes;
  try {
    textToPhonemes = lib.func(
      'const char *espeak_TextToPhonemesWithTerminator(_Inout_ void **textptr, int textmode, int phonememode, _Out_ int *terminator)',
    ) as TextToPhonemes;
  } catch {
    const info = lib.func('const char *espeak_Info(_Out_ const char **path)');
    return `${candidate.library} is eSpeak NG ${String(info([null]))}, without espeak_TextToPhonemesWithTerminator`;
  }
  const info = lib.func('const char *espeak_Info(_Out_ const char **path)');
  const version = String(info([null]));
  if (!versionAtLeast(version, MIN_VERSION)) return `${candidate.library} is eSpeak NG ${version}`;
  const initialize = lib.func('int espeak_Initialize(int output, int buflength, const char *path, int options)');
  const rate = initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, candidate.dataPath, ESPEAK_INITIALIZE_DONT_EXIT) as number;
  if (rate <= 0) return `${candidate.library}: espeak_Initialize failed (${rate}); is its espeak-ng-data present?`;
  return { version, setVoice: lib.func('int espeak_SetVoiceByName(const char *name)'), textToPhonemes };
}

function load(): Binding {
  if (binding) return binding;
  const problems: string[] = [];
  for (const candidate of candidates()) {
    const result = tryLoad(candidate);
    if (typeof result !== 'string') {
      binding = result;
      return binding;
    }
    problems.push(result);
  }
  throw new EspeakUnavailableError(problems.join('; '));
}

/** Loads eSpeak NG now (fails fast with install advice) and returns its version. */
export function espeakVersion(): string {
  return load().version;
}

function selectVoice(voice: string): void {
  const b = load();
  if (currentVoice === voice) return;
  const status = b.setVoice(voice);
  if (status !== 0) throw new Error(`eSpeak NG has no voice "${voice}" (espeak_SetVoiceByName returned ${status})`);
  currentVoice = voice;
}

/**
 * Splits text into espeak-ng clauses, each with its IPA and clause flags.
 * Synchronous on purpose: espeak-ng keeps global state and Node calls it from one thread.
 */
export function espeakClauses(text: string, voice: string): Clause[] {
  selectVoice(voice);
  const ipa = clausePass(text, ESPEAK_PHONEMES_IPA | SEPARATOR_BITS);
  const mnemonic = clausePass(text, ESPEAK_PHONEMES_MNEMONIC | SEPARATOR_BITS);
  return ipa.map((clause, i) => ({ ...clause, mnemonics: mnemonic[i]?.phonemes ?? '' }));
}

function clausePass(text: string, mode: number): { phonemes: string; terminator: number; textEnd: number }[] {
  const b = load();
  const buf = Buffer.from(`${text}\0`, 'utf8');
  const base = koffi.address(buf);
  const cursor: unknown[] = [koffi.as(buf, 'void *')];
  const clauses: { phonemes: string; terminator: number; textEnd: number }[] = [];
  while (cursor[0] !== null) {
    const terminator = [0];
    const phonemes = b.textToPhonemes(cursor, ESPEAK_CHARS_UTF8, mode, terminator) ?? '';
    clauses.push({ phonemes, terminator: terminator[0] ?? 0, textEnd: consumedChars(buf, base, cursor[0], text.length) });
  }
  keepAlive(buf);
  return clauses;
}

/**
 * How much of the text espeak-ng has finished with, in UTF-16 units. Its cursor stops one
 * character past the clause (the next clause's first character, read ahead), so that one is
 * given back.
 */
function consumedChars(buf: Buffer, base: bigint | number, cursor: unknown, length: number): number {
  if (cursor === null) return length;
  const bytes = Number(BigInt(koffi.address(cursor)) - BigInt(base));
  const consumed = Array.from(buf.toString('utf8', 0, Math.min(bytes, buf.length - 1)));
  consumed.pop();
  return Math.min(length, consumed.join('').length);
}

/** espeak-ng reads `buf` through a raw pointer; this use keeps the GC from freeing it earlier. */
function keepAlive(buf: Buffer): void {
  if (buf.byteLength === 0) throw new Error('unreachable');
}
