#!/usr/bin/env node
// `npm run build:server [-- --out DIR]`: the services as plain JavaScript, laid out as the
// container images run them (Dockerfile: /app) — compiled sources mirroring the repository
// (orchestrator/main.js, workers/tts/main.js, ...), package.json (for "type": "module"), the
// YAML configs and the health-check script. node_modules is not included: the Dockerfile copies
// the pruned production modules beside it, the Compose stack test links the repository's.
// Default DIR: dist/server. Plain JavaScript so it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'dist', 'server') } } });
const out = resolve(values.out);

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });

mkdirSync(join(out, 'configs'), { recursive: true });
for (const f of readdirSync(join(root, 'configs')).filter((f) => f.endsWith('.yaml'))) copyFileSync(join(root, 'configs', f), join(out, 'configs', f));
mkdirSync(join(out, 'scripts'), { recursive: true });
copyFileSync(join(root, 'scripts', 'healthcheck.mjs'), join(out, 'scripts', 'healthcheck.mjs'));
copyFileSync(join(root, 'package.json'), join(out, 'package.json'));
console.log(`build:server: ${out}`);
