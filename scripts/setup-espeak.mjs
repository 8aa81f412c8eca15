#!/usr/bin/env node
// Makes eSpeak NG >= 1.52 available to the phonemizer (workers/tts/engine/espeak.ts).
// Piper transcribes with eSpeak NG 1.52; Debian 12 ships 1.51, which transcribes English
// differently. On Debian/Ubuntu this fetches the 1.52 packages from Debian 13 with apt's own
// tools (no root, nothing installed system-wide) and unpacks them into vendor/espeak-ng/.
// Idempotent: does nothing when a suitable library is already there.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const target = join(root, 'vendor', 'espeak-ng');
const quiet = process.argv.includes('--quiet');
const soft = process.argv.includes('--soft'); // from postinstall: advise, never fail the install
const log = (msg) => {
  if (!quiet) console.log(`[setup-espeak] ${msg}`);
};

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function systemVersion() {
  // espeak-ng's CLI prints "eSpeak NG text-to-speech: 1.52.0  Data at: ..."
  if (!has('espeak-ng')) return null;
  const out = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /(\d+)\.(\d+)/.exec(out)?.slice(1, 3).map(Number) ?? null;
}

/** The Debian archive this system already uses (one-line or deb822 sources). */
function systemDebianMirror() {
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    // no sources.list.d
  }
  for (const f of files) {
    let text;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const t = line.trim();
      if (t.startsWith('#')) continue;
      const m = /^(?:URIs:|deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?)\s*(https?:\/\/\S+\/debian)\/?(?:\s|$)/.exec(t);
      if (m) return m[1];
    }
  }
  return undefined;
}

function fail(message) {
  if (soft) {
    console.warn(`[setup-espeak] ${message}`);
    process.exit(0);
  }
  console.error(`[setup-espeak] ${message}`);
  process.exit(1);
}

// Debian 13's archive key is not in Debian 12's keyring, so apt cannot check the signature;
// instead the exact packages are pinned by SHA-256.
const VERSION = '1.52.0+dfsg-5';
const PINNED = {
  amd64: {
    [`libespeak-ng1_${VERSION}_amd64.deb`]: '845886095f5be3ba7680c8e15de068f76d67600275cbd7b6f6c7d00e53c05b34',
    [`espeak-ng-data_${VERSION}_amd64.deb`]: '7c239b30e419897313b5b8c98123cf3ec871cfedbf43bbb956b985a492e37f19',
  },
};

const vendoredLib = ['x86_64-linux-gnu', 'aarch64-linux-gnu']
  .map((t) => join(target, 'usr', 'lib', t, 'libespeak-ng.so.1'))
  .find((p) => existsSync(p));
if (vendoredLib) {
  log(`present: ${vendoredLib}`);
  process.exit(0);
}
const sys = systemVersion();
if (sys && (sys[0] > 1 || (sys[0] === 1 && sys[1] >= 52)) && !process.argv.includes('--force')) {
  log(`system eSpeak NG ${sys.join('.')} is recent enough`);
  process.exit(0);
}
if (process.platform !== 'linux' || !has('apt-get') || !has('dpkg-deb') || !has('dpkg')) {
  fail(
    'eSpeak NG >= 1.52 not found and this is not a Debian-family system. Install espeak-ng 1.52+ ' +
      '(e.g. `brew install espeak-ng`) or set ESPEAK_NG_LIBRARY and ESPEAK_DATA_PATH.',
  );
}

const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const pinned = PINNED[arch];
if (!pinned) fail(`no pinned eSpeak NG ${VERSION} packages for ${arch}; install espeak-ng 1.52+ from your distribution.`);
const work = join(root, 'vendor', '.apt');
rmSync(work, { recursive: true, force: true });
for (const d of ['lists/partial', 'archives/partial', 'etc/sources.list.d', 'etc/preferences.d']) {
  mkdirSync(join(work, d), { recursive: true });
}
const mirror = process.env.DEBIAN_MIRROR ?? systemDebianMirror();
if (!mirror) fail('could not find a Debian mirror in /etc/apt; set DEBIAN_MIRROR to one (its .../debian URL).');
writeFileSync(join(work, 'etc', 'sources.list'), `deb [trusted=yes] ${mirror} trixie main\n`);
const aptOpts = [
  '-oAcquire::AllowInsecureRepositories=1',
  `-oDir::Etc=${join(work, 'etc')}`,
  `-oDir::State=${work}`,
  `-oDir::State::status=/dev/null`,
  `-oDir::Cache=${work}`,
  `-oAPT::Architecture=${arch}`,
  '-oDebug::NoLocking=1',
  '-oAPT::Sandbox::User=root',
  '-qq',
];
try {
  log('fetching eSpeak NG 1.52 package index (Debian 13)…');
  execFileSync('apt-get', [...aptOpts, 'update'], { stdio: quiet ? 'ignore' : 'inherit' });
  log('downloading libespeak-ng1 and espeak-ng-data…');
  execFileSync('apt-get', [...aptOpts, 'download', `libespeak-ng1=${VERSION}`, `espeak-ng-data=${VERSION}`], {
    cwd: work,
    stdio: quiet ? 'ignore' : 'inherit',
  });
} catch (err) {
  fail(`could not download eSpeak NG ${VERSION} packages: ${err.message}`);
}
for (const [file, sha256] of Object.entries(pinned)) {
  const path = join(work, file);
  const actual = existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'missing';
  if (actual !== sha256) fail(`${file}: expected sha256 ${sha256}, got ${actual}; refusing to unpack.`);
}
mkdirSync(target, { recursive: true });
for (const deb of readdirSync(work).filter((f) => f.endsWith('.deb'))) {
  execFileSync('dpkg-deb', ['-x', join(work, deb), target]);
  log(`unpacked ${deb}`);
}
rmSync(work, { recursive: true, force: true });
// The 1.52 library links libpcaudio0 and libsonic0 like 1.51 does; Debian's espeak-ng package
// (or those two) provides them.
log(`done: ${target}`);
