import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCompose, readComposeRaw, readEnvExample, type ComposeFile } from '../support/compose.js';

/**
 * docker-compose.yml against the Compose Specification's JSON schema. No Docker engine runs here,
 * so this stands in for `docker compose config`. The schema is compose-spec's own
 * `compose_spec.json`, as shipped (current) in the `dclint` package; ajv validates.
 */
function composeSpecSchema(): Record<string, unknown> {
  const pkg = createRequire(import.meta.url).resolve('dclint/package.json');
  const schema = JSON.parse(readFileSync(join(dirname(pkg), 'schemas', 'compose.schema.json'), 'utf8')) as Record<string, unknown>;
  // The schema names its meta-schema by an https URL ajv does not register; it is draft-07, ajv's default.
  delete schema.$schema;
  return schema;
}

describe('docker-compose.yml and the Compose Specification schema', () => {
  let validate: ValidateFunction;
  const errorsOf = (doc: unknown): string[] =>
    validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);

  beforeAll(() => {
    // strict off: compose_spec.json uses annotations (e.g. `deprecated`) ajv's strict mode rejects.
    validate = new Ajv({ allErrors: true, strict: false }).compile(composeSpecSchema());
  });

  it('is valid as written, with the .env.example values, and with no .env at all', () => {
    expect(errorsOf(readComposeRaw())).toEqual([]);
    expect(errorsOf(loadCompose(readEnvExample()))).toEqual([]);
    expect(errorsOf(loadCompose({}))).toEqual([]);
  });

  it('the validator rejects what Compose would reject (so a pass means something)', () => {
    const good = loadCompose({});
    const mutate = (f: (c: ComposeFile) => void): ComposeFile => {
      const copy = structuredClone(good);
      f(copy);
      return copy;
    };
    // A misspelt key, networks as a bare string, a depends_on condition that does not exist.
    expect(errorsOf(mutate((c) => (c.services.tts0!.helthcheck = {})))).not.toEqual([]);
    expect(errorsOf(mutate((c) => (c.services.redis!.networks = 'backend')))).not.toEqual([]);
    expect(
      errorsOf(mutate((c) => (c.services.orchestrator!.depends_on = { tts0: { condition: 'healthy' as 'service_healthy' } }))),
    ).not.toEqual([]);
  });

  it('declares the services issue 7 names, each with a health check', () => {
    const compose = loadCompose({});
    expect(Object.keys(compose.services).sort()).toEqual(['caddy', 'livekit', 'orchestrator', 'redis', 'tts0', 'tts1', 'voices']);
    for (const name of ['caddy', 'livekit', 'orchestrator', 'redis', 'tts0', 'tts1']) {
      expect(compose.services[name]!.healthcheck?.test, name).toBeDefined();
    }
    // tts1 and the voice tool are opt-in profiles; `docker compose up` starts the other five.
    expect(compose.services.tts1!.profiles).toEqual(['scale']);
    expect(compose.services.voices!.profiles).toEqual(['tools']);
  });
});
