/**
 * Every project command refuses an option it does not know the same way: exit 2, the reason and
 * its usage, no stack trace; `--help` prints the usage and exits 0.
 */
import { describe, expect, it } from 'vitest';
import { runTsxScript } from '../helpers/processes.js';

/** npm script name → its entry (run with tsx, as package.json does). */
const COMMANDS: [string, string][] = [
  ['synth', 'scripts/synthesize.ts'],
  ['parity', 'scripts/parity.ts'],
  ['paths', 'scripts/paths.ts'],
  ['bench', 'bench/run.ts'],
  ['voices:install-pypi', 'scripts/install-pypi-voice.ts'],
  ['voices:build-test', 'scripts/build-test-voice.ts'],
  ['voices:download', 'scripts/voices-download.ts'],
];



describe('command-line usage', () => {
  it.each(COMMANDS)('npm run %s: an unknown option gets exit 2, the reason and the usage', async (name, entry) => {
    const r = await runTsxScript(entry, ['--frobnicate']);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toContain("Unknown option '--frobnicate'");
    expect(r.err).toContain(`usage: npm run ${name}`);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.each(COMMANDS)('npm run %s --help prints the usage and exits 0', async (name, entry) => {
    const r = await runTsxScript(entry, ['--help']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`usage: npm run ${name}`);
  });

  it('bench: an unknown suite and a bad --trials are usage errors', async () => {
    const suite = await runTsxScript('bench/run.ts', ['--suite', 'nope']);
    expect(suite.code).toBe(2);
    expect(suite.err).toContain('unknown suite "nope"');
    expect(suite.err).toContain('one of engine, resampler');
    const trials = await runTsxScript('bench/run.ts', ['--trials', '2.5']);
    expect(trials.code).toBe(2);
    expect(trials.err).toContain('--trials must be a positive integer, got "2.5"');
  });
});
