/**
 * A subset of the generated paths for the end-to-end replay, where a path costs seconds of real
 * audio instead of microseconds.
 *
 * Synthesis ahead (UTTERANCE.SYNTHESIZED) adds two bits of context to the graph's vertices, and
 * the paths that deliver it are three quarters of all paths (963 of 1,238 when written), most of
 * them the same transitions in another order. The subset keeps every path that does not deliver
 * it, and of those that do, a greedy cover of every pair of consecutive transitions (per policy)
 * those paths take: so each transition is still replayed after each transition that can precede
 * it. The unit path test still replays every path on the machine.
 */
import type { SessionPath } from './paths.js';

export function deliversSynthesized(path: SessionPath): boolean {
  return path.steps.some((s) => s.stimulus.kind === 'event' && s.stimulus.event.type === 'UTTERANCE.SYNTHESIZED');
}

/** The consecutive transition pairs a path takes (the first step paired with the start). */
export function transitionPairs(path: SessionPath): Set<string> {
  const pairs = new Set<string>();
  let before = 'start';
  for (const step of path.steps) {
    pairs.add(`${path.input.bargeInPolicy}|${before}|${step.transition}|${step.state}`);
    before = step.transition;
  }
  return pairs;
}

/** Greedy set cover: repeatedly the path with the most pairs not yet covered (shorter on ties). */
function cover(candidates: readonly SessionPath[], wanted: Set<string>): SessionPath[] {
  const left = new Set(wanted);
  const pairsOf = candidates.map(transitionPairs);
  const chosen: SessionPath[] = [];
  while (left.size > 0) {
    let best = -1;
    let bestNew = 0;
    pairsOf.forEach((pairs, i) => {
      let fresh = 0;
      for (const p of pairs) if (left.has(p)) fresh += 1;
      const shorter = best >= 0 && candidates[i]!.steps.length < candidates[best]!.steps.length;
      if (fresh > bestNew || (fresh === bestNew && fresh > 0 && shorter)) {
        best = i;
        bestNew = fresh;
      }
    });
    if (best < 0) break; // nothing covers what is left: cannot happen for pairs taken from the candidates
    chosen.push(candidates[best]!);
    for (const p of pairsOf[best]!) left.delete(p);
  }
  return chosen;
}

/** The paths the end-to-end replay runs, in the generated order. */
export function endToEndPaths(paths: readonly SessionPath[]): SessionPath[] {
  const plain = paths.filter((p) => !deliversSynthesized(p));
  const ahead = paths.filter(deliversSynthesized);
  const wanted = new Set<string>();
  for (const p of ahead) for (const pair of transitionPairs(p)) wanted.add(pair);
  for (const p of plain) for (const pair of transitionPairs(p)) wanted.delete(pair);
  const chosen = new Set(cover(ahead, wanted));
  return paths.filter((p) => !deliversSynthesized(p) || chosen.has(p));
}
