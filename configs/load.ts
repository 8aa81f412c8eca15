import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';

/**
 * Loading a service's YAML config: `${VAR}` / `${VAR:-default}` substitution, direct environment
 * overrides, validation by a zod schema, and one error listing every problem. Shared by the TTS
 * worker (`configs/worker.yaml`) and the orchestrator (`configs/orchestrator.yaml`).
 */

export interface ConfigIssue {
  /** Dotted key path, e.g. `model_manager.ttl_seconds`; `(root)` for the document itself. */
  path: string;
  message: string;
}

/** Every problem with a config file at once, so a user fixes them in one pass, not one per run. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
    what = 'config',
  ) {
    super(`Cannot load ${what} ${file}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

// `${VAR}` or `${VAR:-default}`; as in the shell, the default also applies when VAR is empty.
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

const dotted = (path: readonly PropertyKey[]): string => (path.length === 0 ? '(root)' : path.map(String).join('.'));

/** Substitutes placeholders in every string of a parsed YAML tree (keys are left alone). */
function substitute(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (fallback !== undefined) return v === undefined || v === '' ? fallback : v;
      if (v === undefined) {
        issues.push({ path: dotted(path), message: `environment variable ${name} is not set (write \${${name}:-default} to make it optional)` });
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, [...path, i], issues));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, [...path, k], issues)]));
  }
  return value;
}

function setPath(root: Record<string, unknown>, path: readonly string[], value: string): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    // A non-mapping here is a schema error already; replacing it would hide that, so leave it.
    if (next === undefined) node = node[key] = {};
    else if (next !== null && typeof next === 'object' && !Array.isArray(next)) node = next as Record<string, unknown>;
    else return;
  }
  node[path[path.length - 1]!] = value;
}


/** One issue per unknown key, at that key's own path, so each reads like any other problem. */
function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ path: dotted([...issue.path, k]), message: 'unknown key' }));
  return [{ path: dotted(issue.path), message: issue.message }];
}

export interface LoadYamlConfigOptions<S extends z.ZodType> {
  file: string;
  schema: S;
  env: NodeJS.ProcessEnv;
  /** Environment variables that win over the file even where it has no placeholder. */
  overrides: Record<string, readonly string[]>;
  /** Names the config in errors, e.g. "worker config". */
  what: string;
  /** Says how to point at another file, e.g. "set WORKER_CONFIG". */
  hint: string;
}

/** YAML → `${VAR}` substitution → env overrides → validation; throws a ConfigError listing every problem. */
export function loadYamlConfig<S extends z.ZodType>(opts: LoadYamlConfigOptions<S>): z.output<S> {
  // Real path: the compiled services reach configs/ through a link (scripts/compiled.mjs), and
  // an error should name the file a user edits.
  const found = existsSync(opts.file);
  const file = found ? realpathSync(opts.file) : resolve(opts.file);
  const fail = (issues: ConfigIssue[]) => new ConfigError(file, issues, opts.what);
  if (!found) throw fail([{ path: '(root)', message: `file not found (pass a path or ${opts.hint})` }]);
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) {
    // The yaml package's messages carry the line, column and a code excerpt; keep the first line.
    throw fail(doc.errors.map((e) => ({ path: '(root)', message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}` })));
  }
  const raw: unknown = doc.toJS() ?? {}; // an empty file means "all defaults"
  if (typeof raw !== 'object' || Array.isArray(raw)) throw fail([{ path: '(root)', message: 'expected a mapping of keys to values' }]);

  const issues: ConfigIssue[] = [];
  const substituted = substitute(raw, opts.env, [], issues) as Record<string, unknown>;
  for (const [name, keyPath] of Object.entries(opts.overrides)) {
    const v = opts.env[name];
    if (v !== undefined && v !== '') setPath(substituted, keyPath, v);
  }
  const parsed = opts.schema.safeParse(substituted);
  if (!parsed.success) {
    // A key whose placeholder was unset already has its problem listed; its empty value would only add noise.
    const unset = new Set(issues.map((i) => i.path));
    issues.push(...parsed.error.issues.flatMap(toConfigIssues).filter((i) => !unset.has(i.path)));
  }
  if (issues.length > 0 || !parsed.success) throw fail(issues);
  return parsed.data;
}
