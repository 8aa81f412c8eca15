import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Bump when the rewrite changes: older prepared files are then ignored. */
const PREPARATION_VERSION = 4;
const CHILD = fileURLToPath(new URL('./prepare-model-process.js', import.meta.url));

export interface PreparedModel {
  /** The file the session loads: the prepared copy, or the voice's own model. */
  path: string;
  /** A prepared copy is used (false: the voice's own model, nothing to rewrite or a failure). */
  prepared: boolean;
  /** Prepared now (false: found from an earlier run, or nothing to prepare). */
  created: boolean;
  ms: number;
  /** Why the voice's own model is used after a failure (the voice still works, just slower). */
  warning?: string;
}

/** Per process: a voice without anything to rewrite is checked once, not at every load. */
const prepared = new Map<string, Promise<PreparedModel>>();

/** Where the prepared copy goes: beside the voice if that is writable, else the temp directory. */
function defaultPreparedDirs(modelPath: string): string[] {
  return [dirname(modelPath), join(tmpdir(), 'duplex-voice-models')];
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The model file a session should load for `modelPath`: a copy with the upsampling layers as
 * polyphase Conv (polyphase-upsampling.js; ~18% less inference time in onnxruntime-node 1.30)
 * the decoder's last stage run in windows (windowed-decoder.js; ~30 MB less peak memory) and
 * the text encoder's and duration predictor's layer norms as one op each (layer-norm-fusion.js;
 * ~3% less inference CPU), the same audio, made once in a child process and kept beside the
 * voice. Keyed by the voice file's size and mtime, so a replaced voice is prepared again.
 */
export function preparedModelPath(modelPath: string, dirs = defaultPreparedDirs(modelPath)): Promise<PreparedModel> {
  const stat = statSync(modelPath);
  const key = createHash('sha256').update(`${stat.size}:${stat.mtimeMs}:${PREPARATION_VERSION}`).digest('hex').slice(0, 12);
  const memoKey = `${modelPath}:${key}:${dirs.join(':')}`;
  let result = prepared.get(memoKey);
  if (!result) {
    result = prepare(modelPath, dirs.map((d) => join(d, `${copyPrefix(modelPath)}${key}.onnx`)));
    prepared.set(memoKey, result);
  }
  return result;
}

/** Prepared copies of `modelPath` are named this plus their key (the name predates windowing). */
const copyPrefix = (modelPath: string) => `${basename(modelPath, '.onnx')}.polyphase-`;

/** Copies made from an earlier version of the voice file (same name, another key). */
function removeStaleCopies(modelPath: string, current: string): void {
  const dir = dirname(current);
  const prefix = copyPrefix(modelPath);
  const keep = basename(current);
  try {
    for (const name of readdirSync(dir)) {
      if (name.startsWith(prefix) && name.endsWith('.onnx') && name !== keep) rmSync(join(dir, name), { force: true });
    }
  } catch {
    // Best effort: a stale copy left behind only costs disk space.
  }
}

async function prepare(modelPath: string, places: string[]): Promise<PreparedModel> {
  const t0 = performance.now();
  const found = places.find((p) => existsSync(p));
  if (found) return { path: found, prepared: true, created: false, ms: performance.now() - t0 };
  const target = places.find((p) => writable(dirname(p)));
  const unchanged = (warning?: string): PreparedModel => ({
    path: modelPath,
    prepared: false,
    created: false,
    ms: performance.now() - t0,
    ...(warning !== undefined && { warning }),
  });
  if (!target) return unchanged(`no writable place for the prepared model (tried ${places.map(dirname).join(', ')})`);
  try {
    // Plain node: the child is JavaScript and needs no loader from this process.
    const { stdout } = await run(process.execPath, [CHILD, modelPath, target], { maxBuffer: 1 << 16 });
    const { rewritten, windowed, layerNorms, edgeCaps } = JSON.parse(stdout.trim()) as {
      rewritten: number;
      windowed: boolean;
      layerNorms: number;
      edgeCaps: boolean;
    };
    if (rewritten === 0 && !windowed && layerNorms === 0 && !edgeCaps) return unchanged();
    removeStaleCopies(modelPath, target);
    return { path: target, prepared: true, created: true, ms: performance.now() - t0 };
  } catch (err) {
    return unchanged(`preparing ${modelPath} failed, using it as is: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Prepares the voice now (so its first load does not) and says what happened, for install scripts. */
export async function describePreparation(modelPath: string): Promise<string> {
  const p = await preparedModelPath(modelPath);
  if (p.warning) return `Model not prepared: ${p.warning}`;
  if (!p.prepared) return 'Model used as it is (no decoder layer to prepare)';
  return p.created
    ? `Prepared ${p.path} (upsampling as polyphase Conv, last decoder stage in windows, layer norms fused, an input for joining streamed chunks, ${Math.round(p.ms)} ms)`
    : `Prepared model present: ${p.path}`;
}
