import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/compose.js';

interface LockFile {
  packages: Record<string, { hasInstallScript?: boolean }>;
}

const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as LockFile;
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };

/** Package names with an install script, from the lockfile's paths (`node_modules/a/node_modules/@s/b`). */
function packagesWithInstallScripts(): string[] {
  const names = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  return [...new Set(names)].sort();
}

describe('dependency install scripts (package.json allowScripts)', () => {
  it('records a decision for every dependency that has one, so npm 11 neither asks nor runs an unreviewed script', () => {
    const scripted = packagesWithInstallScripts();
    expect(scripted.length).toBeGreaterThan(0);
    const decided = Object.keys(manifest.allowScripts ?? {}).map((key) => key.replace(/(.)@.*$/, '$1'));
    expect(scripted.filter((name) => !decided.includes(name))).toEqual([]);
  });

  it("keeps onnxruntime-node's installer off: it only downloads GPU libraries, which fails offline", () => {
    expect(manifest.allowScripts?.['onnxruntime-node']).toBe(false);
    expect(readFileSync(join(REPO_ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});
