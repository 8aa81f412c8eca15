import { status } from '@grpc/grpc-js';
import { SYNTHESIS_LIMITS, type SynthesizeOptions } from '../engine/engine.js';
import type { SynthesisOptions } from './generated/tts.js';
import { InputError } from './status.js';

const invalid = (message: string) => new InputError(status.INVALID_ARGUMENT, message);

function scale(name: string, value: number | undefined, [min, max]: readonly [number, number]): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < min || value > max) throw invalid(`${name} must be between ${min} and ${max} (got ${value})`);
  return value;
}

/** Wire options to engine options, rejecting out-of-range values with INVALID_ARGUMENT. */
export function synthesisOptionsFrom(
  wire: SynthesisOptions | undefined,
  defaults: { loudnessTarget: number | null; chunking: 'stream' | 'sentence'; trimLeadingSilenceDb?: number | null },
): SynthesizeOptions {
  const chunking = wire?.chunking || defaults.chunking;
  if (chunking !== 'stream' && chunking !== 'sentence') throw invalid(`chunking must be "stream" or "sentence" (got ${JSON.stringify(chunking)})`);
  const speaker = wire?.speaker ? (/^\d+$/.test(wire.speaker) ? Number(wire.speaker) : wire.speaker) : undefined;
  const loudness = scale('loudness_target_lufs', wire?.loudnessTargetLufs, SYNTHESIS_LIMITS.loudnessTarget) ?? defaults.loudnessTarget ?? undefined;
  return {
    speaker,
    // 0 means "the voice's default" for length_scale (a zero-length utterance is meaningless);
    // for the noise scales 0 is a real value (deterministic output).
    lengthScale: wire?.lengthScale === 0 ? undefined : scale('length_scale', wire?.lengthScale, SYNTHESIS_LIMITS.lengthScale),
    noiseScale: scale('noise_scale', wire?.noiseScale, SYNTHESIS_LIMITS.noiseScale),
    noiseW: scale('noise_w', wire?.noiseW, SYNTHESIS_LIMITS.noiseW),
    loudnessTarget: loudness,
    chunking: { mode: chunking },
    ...(defaults.trimLeadingSilenceDb != null && { trimLeadingSilenceDb: defaults.trimLeadingSilenceDb }),
  };
}

/** Text to speak: not empty, valid UTF-8 (a decoder replacement char means it was not), bounded. */
export function checkText(text: string, maxChars: number): void {
  if (text.includes('\uFFFD')) throw invalid('text is not valid UTF-8');
  if (text.length > maxChars) throw invalid(`text is ${text.length} characters; the limit is ${maxChars}`);
}

export function checkNotBlank(text: string): void {
  if (text.trim().length === 0) throw invalid('text is empty');
}

/** Longest `start_after_ms` accepted: ten minutes of audio queued ahead is already absurd. */
export const MAX_START_AFTER_MS = 600_000;

export function checkStartAfter(ms: number | undefined): number {
  if (ms === undefined) return 0;
  if (ms > MAX_START_AFTER_MS) throw invalid(`start_after_ms must be at most ${MAX_START_AFTER_MS}, got ${ms}`);
  return ms;
}
