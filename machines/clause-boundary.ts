/**
 * Clause-boundary detection for streamed text (SPEC §5: "the orchestrator starts speaking at
 * the first clause boundary without waiting for the final chunk").
 *
 * A clause boundary is one of `. ! ? , ; :` (optionally followed by closing quotes or brackets)
 * that is followed by whitespace or by the end of the text seen so far, and that closes some
 * actual words (a lone "," is not a clause). Pure string functions, no state.
 *
 * Known trade-off, by the contract's own definition: a streamed chunk that ends exactly at
 * "3." (of "3.14") or "Mr." counts as a boundary. Splitting there costs a small prosody seam,
 * never lost text.
 */

/** Punctuation run, optional closers, then whitespace or end of text. */
const BOUNDARY = /[.!?,;:]+["'\u201d\u2019)\]]*(?=\s|$)/gu;
const WORD = /[\p{L}\p{N}]/u;

/**
 * End offsets (exclusive) of every clause boundary in `text`, in order. The offset points just
 * past the punctuation (and closers), so `text.slice(0, offset)` is a complete clause run.
 */
export function clauseBoundaries(text: string): number[] {
  const ends: number[] = [];
  let clauseStart = 0;
  for (const match of text.matchAll(BOUNDARY)) {
    const end = match.index + match[0].length;
    if (WORD.test(text.slice(clauseStart, match.index))) {
      ends.push(end);
      clauseStart = end;
    }
  }
  return ends;
}

/** True when `text` contains at least one complete clause. */
export function hasClauseBoundary(text: string): boolean {
  return clauseBoundaries(text).length > 0;
}

export interface ClauseSplit {
  /** Every complete clause, trimmed: what can be spoken now. */
  head: string;
  /** The incomplete remainder (leading whitespace dropped): what waits for more text. */
  tail: string;
}

/**
 * Splits `text` after its LAST clause boundary, so everything already complete is spoken as
 * one utterance and only the unfinished clause waits. Returns `null` when there is no boundary.
 */
export function splitAtLastClauseBoundary(text: string): ClauseSplit | null {
  const ends = clauseBoundaries(text);
  const last = ends.at(-1);
  if (last === undefined) return null;
  return { head: text.slice(0, last).trim(), tail: text.slice(last).trimStart() };
}
