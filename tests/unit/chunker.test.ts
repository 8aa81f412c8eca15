import { describe, expect, it } from 'vitest';
import { chunkSentences, DEFAULT_CHUNK_POLICY, type ChunkPolicy } from '../../workers/tts/engine/chunker.js';
import { phonemize, type SentencePhonemes } from '../../workers/tts/engine/phonemize.js';

/** A synthetic sentence: each word's characters are its phonemes, words separated by ' '. */
const sentence = (...words: string[]): SentencePhonemes => Array.from(words.join(' '));
const wordCount = (chunk: SentencePhonemes) => chunk.filter((p) => p === ' ').length + 1;
const policy = (overrides: Partial<ChunkPolicy>): ChunkPolicy => ({ ...DEFAULT_CHUNK_POLICY, ...overrides });
/** n one-word clauses: "w0, w1, ..., wn." */
const clauses = (n: number, prefix = 'w'): SentencePhonemes =>
  sentence(...Array.from({ length: n }, (_, i) => `${prefix}${i}${i === n - 1 ? '.' : ','}`));

/**
 * Walks the chunks through the sentences: each chunk must be the next contiguous run of one
 * sentence (so none spans two), and chunks plus the spaces cut between them rebuild every sentence.
 */
function expectReassembles(sentences: SentencePhonemes[], chunks: SentencePhonemes[]): void {
  let c = 0;
  for (const s of sentences) {
    let offset = 0;
    while (offset < s.length) {
      const chunk = chunks[c];
      expect(chunk, `chunk ${c} for sentence ${JSON.stringify(s.join(''))}`).toBeDefined();
      expect(chunk?.[chunk.length - 1]).not.toBe(' ');
      expect(s.slice(offset, offset + (chunk as SentencePhonemes).length)).toEqual(chunk);
      offset += (chunk as SentencePhonemes).length;
      while (s[offset] === ' ') offset += 1; // the separating spaces removed by the cut
      c += 1;
    }
  }
  expect(c).toBe(chunks.length);
}

describe('chunkSentences (stream mode)', () => {
  it('makes a short first clause the first chunk', () => {
    const s = sentence('hi,', 'this', 'sentence', 'goes', 'on', 'for', 'a', 'good', 'while', 'longer.');
    const chunks = chunkSentences([s]);
    expect(chunks[0]).toEqual(['h', 'i', ',']);
    expectReassembles([s], chunks);
  });

  it('cuts the second chunk at its word budget even when its clause is under twice that', () => {
    // "hi," then an 11-word clause: later chunks could take a clause up to 2x their budget whole,
    // the second may not (it has to be ready before the short first chunk has played).
    const rest = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'a10', 'a11.'];
    const s = sentence('hi,', ...rest);
    const chunks = chunkSentences([s]);
    expect(chunks[0]?.join('')).toBe('hi,');
    expect(wordCount(chunks[1] as SentencePhonemes)).toBe(DEFAULT_CHUNK_POLICY.secondWords);
    expectReassembles([s], chunks);
    // The third chunk (budget 12) takes the rest of the clause whole.
    expect(chunks).toHaveLength(3);
  });

  it('makes the first clause of real speech the first chunk', () => {
    const sentences = phonemize('Well, I think we should probably leave soon, before the weather turns.', { voice: 'en-us' });
    const chunks = chunkSentences(sentences);
    expect(chunks[0]?.join('')).toBe('wˈɛl,');
    expect(chunks.length).toBeGreaterThan(1);
    expectReassembles(sentences, chunks);
  });

  it('cuts a long first clause to whole words within firstPhonemes', () => {
    // Each word is 4 phonemes plus its space: three words (15) fit the budget of 15, four do not.
    const s = sentence('abcd', 'efgh', 'ijkl', 'mnop', 'qrst', 'uvwx.');
    expect(s.length).toBeGreaterThan(DEFAULT_CHUNK_POLICY.firstClauseMaxPhonemes);
    const chunks = chunkSentences([s]);
    expect(chunks[0]?.join('')).toBe('abcd efgh ijkl');
    expectReassembles([s], chunks);
    const tighter = chunkSentences([s], policy({ firstPhonemes: 14 }));
    expect(tighter[0]?.join('')).toBe('abcd efgh');
  });

  it('takes at least one word for the first chunk, however long', () => {
    const long = 'x'.repeat(25);
    const s = sentence(long, 'ab', 'cd.');
    const chunks = chunkSentences([s]);
    expect(chunks[0]?.join('')).toBe(long);
    expectReassembles([s], chunks);
  });

  it('never lets a chunk span two sentences', () => {
    const sentences = [sentence('ok.'), sentence('a', 'b', 'c', 'd', 'e', 'f.'), sentence('yes?'), clauses(30)];
    const chunks = chunkSentences(sentences, policy({ secondWords: 50 }));
    // Budgets are large enough to merge everything; sentence ends still cut.
    expect(chunks.map((c) => c.join(''))).toEqual(expect.arrayContaining(['ok.', 'a b c d e f.', 'yes?']));
    expectReassembles(sentences, chunks);
  });

  it('grows later chunk budgets by `growth`, carrying the budget across sentences', () => {
    const p = policy({ secondWords: 2, growth: 2, maxWords: 100 });
    expect(chunkSentences([clauses(40)], p).map(wordCount)).toEqual([1, 2, 4, 8, 16, 9]);
    const two = [clauses(10, 'a'), clauses(10, 'b')];
    const chunks = chunkSentences(two, p);
    // Sentence 1: first chunk, then budgets 2 and 4, then its last 3 words; sentence 2 fits budget 16.
    expect(chunks.map(wordCount)).toEqual([1, 2, 4, 3, 10]);
    expectReassembles(two, chunks);
    expect(chunkSentences([clauses(40)], policy({ secondWords: 3, growth: 1.5, maxWords: 100 })).map(wordCount)).toEqual([1, 3, 5, 8, 12, 11]);
  });

  it('cuts later chunks at clause ends when the budget allows', () => {
    // After "go," the next clause (3 words) fits budget 4 but adding the 9-word one would not.
    const s = sentence('go,', 'a', 'b', 'c,', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l.');
    const chunks = chunkSentences([s], policy({ secondWords: 4, maxWords: 100 }));
    expect(chunks.map((c) => c.join(''))).toEqual(['go,', 'a b c,', 'd e f g h i j k l.']);
  });

  it('caps every chunk at maxWords, even inside one clause', () => {
    const long = sentence(...Array.from({ length: 30 }, (_, i) => `w${i}`));
    const chunks = chunkSentences([long]);
    for (const c of chunks) expect(wordCount(c)).toBeLessThanOrEqual(DEFAULT_CHUNK_POLICY.maxWords);
    // First chunk: five 3-phoneme words (15 = firstPhonemes); the clause far over the second
    // budget (6) is cut at it; then the maxWords cap (10); then the rest.
    expect(chunks.map(wordCount)).toEqual([5, 6, 10, 9]);
    expectReassembles([long], chunks);
    expect(chunkSentences([clauses(40)]).map(wordCount)).toEqual([1, 6, 10, 10, 10, 3]);
    expect(chunkSentences([long], policy({ maxWords: 2 })).map(wordCount)).toEqual(Array(15).fill(2));
  });
});

describe('chunkSentences (sentence mode)', () => {
  it('returns the sentences unchanged, as copies, dropping empty ones', () => {
    const sentences = phonemize('Hello there, world! How are you?', { voice: 'en-us' });
    const withEmpty = [sentences[0] as SentencePhonemes, [], sentences[1] as SentencePhonemes];
    const chunks = chunkSentences(withEmpty, policy({ mode: 'sentence' }));
    expect(chunks).toEqual(sentences);
    expect(chunks[0]).not.toBe(sentences[0]);
    // Even a trailing clause space is kept: this is exactly what Piper feeds its model.
    expect(chunkSentences([sentence('a,', '')], policy({ mode: 'sentence' }))).toEqual([['a', ',', ' ']]);
  });
});
