import type { SentencePhonemes } from './phonemize.js';

/**
 * How text is cut for streaming. The first chunk is small so the first frame is ready quickly;
 * later chunks grow, since by then synthesis runs ahead of playback.
 */
export interface ChunkPolicy {
  /**
   * The first clause is the first chunk if it has at most this many phonemes; otherwise the first
   * chunk is as many whole words as fit in `firstPhonemes` (at least one). Counted in phonemes,
   * not words, because inference time follows phoneme count (measured: 11 phonemes ~60 ms,
   * 24 phonemes ~115 ms with the medium voice on the reference machine).
   */
  firstClauseMaxPhonemes: number;
  firstPhonemes: number;
  /** Word budget of the second chunk; each later chunk may be `growth` times the previous. */
  secondWords: number;
  growth: number;
  /**
   * Hard cap on words per chunk (a longer clause is cut at a word boundary). It bounds peak
   * memory (model activations grow by about 9 MB per word with the medium voice) and how long one
   * stream's inference can hold up another's: with 10, six to eight streams started 300 ms apart
   * never fell behind real time on the 2-core machine; with 14 they fell up to 200 ms behind.
   */
  maxWords: number;
  /** `sentence` synthesizes whole sentences only, exactly as Piper does (no streaming cut). */
  mode: 'stream' | 'sentence';
}

export const DEFAULT_CHUNK_POLICY: ChunkPolicy = {
  firstClauseMaxPhonemes: 18,
  firstPhonemes: 15,
  secondWords: 6,
  growth: 2,
  maxWords: 10,
  mode: 'stream',
};

const CLAUSE_MARKS = new Set([',', ':', ';']);

/** Splits one sentence into words, keeping each word's trailing space with it. */
function words(sentence: SentencePhonemes): SentencePhonemes[] {
  const out: SentencePhonemes[] = [];
  let current: string[] = [];
  for (const p of sentence) {
    current.push(p);
    if (p === ' ') {
      out.push(current);
      current = [];
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

function endsClause(word: SentencePhonemes): boolean {
  const last = word[word.length - 1] === ' ' ? word[word.length - 2] : word[word.length - 1];
  return last !== undefined && CLAUSE_MARKS.has(last);
}

/** Trailing space only separated this chunk from the next; the model input should not end in it. */
function trimEnd(chunk: SentencePhonemes): SentencePhonemes {
  let end = chunk.length;
  while (end > 0 && chunk[end - 1] === ' ') end -= 1;
  return chunk.slice(0, end);
}

/** Cuts sentences into synthesis chunks per the policy. Chunks never span two sentences. */
export function chunkSentences(sentences: readonly SentencePhonemes[], policy: ChunkPolicy = DEFAULT_CHUNK_POLICY): SentencePhonemes[] {
  if (policy.mode === 'sentence') return sentences.filter((s) => s.length > 0).map((s) => [...s]);
  const chunks: SentencePhonemes[] = [];
  let budget = 0; // 0: the first chunk has not been cut yet
  // The second chunk must be synthesized while the short first one plays (~0.6 s), possibly
  // behind another stream's chunk: a clause over its budget is cut at the budget, without the
  // 2x allowance later chunks get. Measured: an 11-word second chunk (~290 ms of compute) made
  // sessions 5-6 of six started 300 ms apart run dry 30-140 ms after their first chunk.
  let second = false;
  for (const sentence of sentences) {
    const ws = words(sentence);
    let i = 0;
    while (i < ws.length) {
      let take: number;
      if (budget === 0) {
        const clauseEnd = ws.findIndex((w, k) => k >= i && endsClause(w));
        const clauseWords = clauseEnd === -1 ? ws.length - i : clauseEnd - i + 1;
        const clausePhonemes = ws.slice(i, i + clauseWords).reduce((n, w) => n + w.length, 0);
        if (clausePhonemes <= policy.firstClauseMaxPhonemes) {
          take = clauseWords;
        } else {
          take = 1;
          let size = (ws[i] as SentencePhonemes).length;
          while (i + take < ws.length && size + (ws[i + take] as SentencePhonemes).length <= policy.firstPhonemes) {
            size += (ws[i + take] as SentencePhonemes).length;
            take += 1;
          }
        }
        budget = policy.secondWords;
        second = true;
      } else {
        // Whole clauses up to the budget (at least one clause), so cuts fall on natural pauses.
        take = 0;
        let k = i;
        while (k < ws.length) {
          let end = k;
          while (end < ws.length - 1 && !endsClause(ws[end] as SentencePhonemes)) end += 1;
          const clause = end - k + 1;
          if (take > 0 && take + clause > budget) break;
          take += clause;
          k = end + 1;
        }
        // A clause far over budget is cut at the budget: otherwise one long clause right after a
        // short first chunk leaves the listener waiting, worst when several streams start at once.
        if (take > (second ? budget : 2 * budget)) take = budget;
        second = false;
        budget = Math.ceil(budget * policy.growth);
      }
      take = Math.min(take, policy.maxWords);
      const chunk = trimEnd(ws.slice(i, i + take).flat());
      if (chunk.length > 0) chunks.push(chunk);
      i += take;
    }
  }
  return chunks;
}

export interface ChunkSpan {
  phonemes: SentencePhonemes;
  /** Set on a sentence's last chunk: where that sentence's text ends. */
  textEnd: number | undefined;
  /** The chunk continues a sentence (it is not the sentence's first). */
  continuesSentence: boolean;
}

/**
 * The chunks of `chunkSentences`, each with the sentence it belongs to; the last chunk of a
 * sentence also says where that sentence's text ends (`textEnd`), so a stream can report how much
 * of the text it has finished, and where chunks join inside a sentence (the model then closes
 * and opens them as word boundaries, not sentences).
 */
export function chunkSentenceSpans(
  sentences: readonly { phonemes: SentencePhonemes; textEnd: number }[],
  policy: ChunkPolicy = DEFAULT_CHUNK_POLICY,
): ChunkSpan[] {
  const chunks = chunkSentences(
    sentences.map((s) => s.phonemes),
    policy,
  );
  const nonEmpty = sentences.filter((s) => s.phonemes.length > 0);
  const out: ChunkSpan[] = [];
  let s = 0;
  let pos = 0;
  for (const chunk of chunks) {
    const sentence = nonEmpty[s];
    if (!sentence) break;
    const continuesSentence = pos > 0;
    while (pos < sentence.phonemes.length && sentence.phonemes[pos] === ' ') pos += 1;
    pos += chunk.length;
    while (pos < sentence.phonemes.length && sentence.phonemes[pos] === ' ') pos += 1;
    const last = pos >= sentence.phonemes.length;
    out.push({ phonemes: chunk, textEnd: last ? sentence.textEnd : undefined, continuesSentence });
    if (last) {
      s += 1;
      pos = 0;
    }
  }
  return out;
}
