/**
 * `npm run synth` (scripts/synthesize.ts) as a user runs it: a real voice to a WAV file, and
 * options it cannot use refused with the usage before any model loads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTsxScript } from '../helpers/processes.js';
import { readWavS16 } from '../fixtures/vad-signals.js';
import { requireRealVoice } from '../support/orchestrator-stack.js';

const VOICE = 'en_US-joe-medium';
const dir = mkdtempSync(join(tmpdir(), 'synth-command-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const synth = (args: string[]) => runTsxScript('scripts/synthesize.ts', args);

describe('npm run synth', () => {
  it('writes the text as a 48 kHz mono WAV and reports first frame and RTF', async () => {
    requireRealVoice(VOICE);
    const out = join(dir, 'hello.wav');
    const r = await synth(['Hello there! How are you today?', '--voice', VOICE, '--length-scale', '1.2', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`: \\d+\\.\\d\\d s from voice ${VOICE}, \\d+ frames of 960 samples; first frame after \\d+ ms, model RTF 0\\.\\d+`));
    const wav = readFileSync(out);
    expect(wav.readUInt32LE(24)).toBe(48_000);
    expect(wav.readUInt16LE(22)).toBe(1);
    const pcm = readWavS16(out);
    expect(pcm.length / 48_000).toBeGreaterThan(1);
    expect(pcm.reduce((m, s) => Math.max(m, Math.abs(s)), 0)).toBeGreaterThan(1000);
  }, 60_000);

  it.each([
    [['Hi', '--length-scale', 'abc'], '--length-scale must be a number from 0.1 to 5 (got "abc")'],
    [['Hi', '--length-scale', '0'], '--length-scale must be a number from 0.1 to 5 (got "0")'],
    [['Hi', '--lufs', '3'], '--lufs must be a number from -70 to 0 (got "3")'],
    [[], 'usage: npm run synth'],
  ])('%j is refused with exit 2, the reason and the usage', async (args, reason) => {
    const r = await synth(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(reason);
    expect(r.err).toContain('--length-scale X');
    expect(r.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});
