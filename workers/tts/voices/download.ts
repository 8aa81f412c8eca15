/**
 * Downloads a Piper voice into `<root>/piper/<id>/` from the public voices repository (or a
 * mirror given by `baseUrl` / `PIPER_VOICES_URL`), verifying size and md5 from voices.json.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { stringify as stringifyYaml } from 'yaml';
import {
  catalogEntrySchema,
  catalogUrl,
  catalogVoiceFiles,
  closeMatches,
  InvalidVoiceIdError,
  metadataFor,
  parsePiperVoiceId,
  piperFileUrl,
  piperVoicesBaseUrl,
  tryParsePiperVoiceId,
  voiceUrls,
  type CatalogVoiceFile,
} from './piper-catalog.js';
import { loadVoicepack, voicepacksDir, type VoiceMetadata, type Voicepack } from './voicepack.js';

export type FetchLike = typeof globalThis.fetch;

export interface DownloadProgress {
  voiceId: string;
  /** File name inside the voice directory, e.g. `en_US-lessac-medium.onnx`. */
  file: string;
  /** 0-based position of this file among the files of the voice. */
  fileIndex: number;
  fileCount: number;
  /** Bytes of this file received so far (monotonic; equals `total` when done). */
  bytes: number;
  /** Expected size of this file from the catalog. */
  total: number;
  /** Average rate of this file's transfer so far. */
  bytesPerSecond: number;
  /** True when the file was already present with the right size and md5, so nothing was fetched. */
  skipped: boolean;
}

export interface DownloadOptions {
  /** Voices root (holds `piper/<id>/`); defaults to voicepacksDir(). */
  root?: string;
  /** Injected for tests; defaults to globalThis.fetch. */
  fetch?: FetchLike;
  onProgress?: (progress: DownloadProgress) => void;
  /** Voices repository base URL; defaults to `PIPER_VOICES_URL` or the public Hugging Face repository. */
  baseUrl?: string;
  signal?: AbortSignal;
}

export interface DownloadedFile {
  file: string;
  path: string;
  bytes: number;
  status: 'downloaded' | 'present';
}

export interface DownloadResult {
  voicepack: Voicepack;
  files: DownloadedFile[];
}

export type VoiceDownloadErrorKind = 'invalid-id' | 'unknown-voice' | 'network' | 'integrity' | 'invalid-voice' | 'aborted';

export class VoiceDownloadError extends Error {
  constructor(
    readonly kind: VoiceDownloadErrorKind,
    readonly voiceId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'VoiceDownloadError';
  }
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The CLI command that (re)downloads a voice into `root`. */
export function downloadCommand(id: string, root?: string, extra: string[] = []): string {
  const args = [shellQuote(id)];
  if (root !== undefined && resolve(root) !== voicepacksDir()) args.push('--dir', shellQuote(resolve(root)));
  args.push(...extra);
  return `npm run voices:download -- ${args.join(' ')}`;
}

/** Short human description of a fetch/stream failure (undici hides the useful part in `cause`). */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    const inner = cause.message || code || cause.name;
    return err.message && err.message !== inner ? `${err.message}: ${inner}` : inner;
  }
  return err.message || err.name;
}

/** Message for failures the user can work around: what failed, the manual route, and the retry command. */
function recoveryMessage(id: string, root: string, what: string, baseUrl: string): string {
  const dir = join(root, 'piper', id);
  const lines = [`Could not download Piper voice "${id}": ${what}.`];
  const parts = tryParsePiperVoiceId(id);
  if (parts) {
    const urls = voiceUrls(id, baseUrl);
    lines.push(
      `You can instead place ${id}.onnx and ${id}.onnx.json by hand in ${dir}/ ` +
        `(from ${urls.model} and ${urls.config}), then run \`${downloadCommand(id, root, ['--offline'])}\` to write its metadata.yaml.`,
    );
  } else {
    lines.push(`You can instead place the voice's .onnx, .onnx.json and metadata.yaml by hand in ${dir}/.`);
  }
  lines.push(`To retry the download, run: ${downloadCommand(id, root)}`);
  return lines.join('\n');
}

export async function hashFile(path: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/** Serialises voice metadata to `<dir>/metadata.yaml` atomically; returns false when it was already identical. */
export async function writeVoiceMetadata(dir: string, metadata: VoiceMetadata): Promise<boolean> {
  const path = join(dir, 'metadata.yaml');
  const text = `# Written by the voice installer; describes ${metadata.onnx_model}.\n${stringifyYaml(metadata)}`;
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  const part = `${path}.part`;
  await writeFile(part, text, 'utf8');
  await rename(part, path);
  return true;
}

async function fetchCatalog(id: string, root: string, baseUrl: string, doFetch: FetchLike, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const url = catalogUrl(baseUrl);
  let res: Response;
  try {
    res = await doFetch(url, { signal });
  } catch (err) {
    if (signal?.aborted) throw new VoiceDownloadError('aborted', id, `Download of ${id} was cancelled.`, { cause: err });
    throw new VoiceDownloadError('network', id, recoveryMessage(id, root, `fetching the voice catalog ${url} failed (${describeError(err)})`, baseUrl), {
      cause: err,
    });
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new VoiceDownloadError(
      'network',
      id,
      recoveryMessage(id, root, `fetching the voice catalog ${url} failed (HTTP ${res.status} ${res.statusText})`, baseUrl),
    );
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch (err) {
    throw new VoiceDownloadError(
      'network',
      id,
      recoveryMessage(id, root, `the voice catalog ${url} could not be read as JSON (${describeError(err)})`, baseUrl),
      { cause: err },
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new VoiceDownloadError('network', id, recoveryMessage(id, root, `the voice catalog ${url} is not a JSON object`, baseUrl));
  }
  return json as Record<string, unknown>;
}

interface FileJob {
  file: string;
  dest: string;
  url: string;
  expected: CatalogVoiceFile;
}

interface JobContext {
  id: string;
  root: string;
  baseUrl: string;
  doFetch: FetchLike;
  signal: AbortSignal | undefined;
  fileIndex: number;
  fileCount: number;
  onProgress: ((p: DownloadProgress) => void) | undefined;
}

async function alreadyPresent(job: FileJob): Promise<boolean> {
  if ((await fileSize(job.dest)) !== job.expected.size_bytes) return false;
  return (await hashFile(job.dest, 'md5')) === job.expected.md5_digest.toLowerCase();
}

async function downloadFile(job: FileJob, ctx: JobContext): Promise<DownloadedFile> {
  const { id, root, baseUrl } = ctx;
  const total = job.expected.size_bytes;
  const report = (bytes: number, bytesPerSecond: number, skipped: boolean): void =>
    ctx.onProgress?.({ voiceId: id, file: job.file, fileIndex: ctx.fileIndex, fileCount: ctx.fileCount, bytes, total, bytesPerSecond, skipped });

  if (await alreadyPresent(job)) {
    report(total, 0, true);
    return { file: job.file, path: job.dest, bytes: total, status: 'present' };
  }

  const part = `${job.dest}.part`;
  const aborted = (err: unknown): VoiceDownloadError => new VoiceDownloadError('aborted', id, `Download of ${id} was cancelled.`, { cause: err });
  let res: Response;
  try {
    res = await ctx.doFetch(job.url, { signal: ctx.signal });
  } catch (err) {
    if (ctx.signal?.aborted) throw aborted(err);
    throw new VoiceDownloadError('network', id, recoveryMessage(id, root, `fetching ${job.url} failed (${describeError(err)})`, baseUrl), { cause: err });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    const why = res.ok ? 'empty response body' : `HTTP ${res.status} ${res.statusText}`;
    throw new VoiceDownloadError('network', id, recoveryMessage(id, root, `fetching ${job.url} failed (${why})`, baseUrl));
  }

  const md5 = createHash('md5');
  let bytes = 0;
  let tooLong = false;
  const started = performance.now();
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > total) {
        tooLong = true;
        callback(new Error(`received more than the expected ${total} bytes`));
        return;
      }
      md5.update(chunk);
      const seconds = (performance.now() - started) / 1000;
      report(bytes, seconds > 0 ? bytes / seconds : 0, false);
      callback(null, chunk);
    },
  });

  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), meter, createWriteStream(part), {
      signal: ctx.signal,
    });
  } catch (err) {
    await rm(part, { force: true });
    if (ctx.signal?.aborted) throw aborted(err);
    if (tooLong) {
      throw new VoiceDownloadError(
        'integrity',
        id,
        recoveryMessage(id, root, `${job.url} is larger than the ${total} bytes listed in the catalog; the partial file was removed`, baseUrl),
      );
    }
    throw new VoiceDownloadError(
      'network',
      id,
      recoveryMessage(id, root, `downloading ${job.url} failed after ${bytes} of ${total} bytes (${describeError(err)})`, baseUrl),
      { cause: err },
    );
  }

  if (bytes === 0) report(0, 0, false); // an empty file sends no chunks; still report its completion
  const digest = md5.digest('hex');
  const problems: string[] = [];
  if (bytes !== total) problems.push(`size ${bytes} bytes, expected ${total}`);
  if (digest !== job.expected.md5_digest.toLowerCase()) problems.push(`md5 ${digest}, expected ${job.expected.md5_digest.toLowerCase()}`);
  if (problems.length > 0) {
    await rm(part, { force: true });
    throw new VoiceDownloadError(
      'integrity',
      id,
      recoveryMessage(id, root, `checksum mismatch for ${job.url} (${problems.join('; ')}); the download was discarded`, baseUrl),
    );
  }
  await rename(part, job.dest);
  return { file: job.file, path: job.dest, bytes, status: 'downloaded' };
}

/**
 * Downloads (or verifies) `<id>.onnx` and `<id>.onnx.json` into `<root>/piper/<id>/`, writes
 * metadata.yaml and returns the loaded voicepack. Files already present with the catalog's size
 * and md5 are not fetched again. Every failure is a VoiceDownloadError with a user-facing message.
 */
export async function downloadVoice(id: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const root = resolve(options.root ?? voicepacksDir());
  const doFetch = options.fetch ?? globalThis.fetch;
  const baseUrl = piperVoicesBaseUrl(options.baseUrl);
  const { signal } = options;

  const catalog = await fetchCatalog(id, root, baseUrl, doFetch, signal);
  const rawEntry = Object.hasOwn(catalog, id) ? catalog[id] : undefined;
  const parts = tryParsePiperVoiceId(id);
  if (rawEntry === undefined) {
    const matches = closeMatches(id, Object.keys(catalog));
    const hint = matches.length > 0 ? ` Close matches: ${matches.join(', ')}.` : ` See ${catalogUrl(baseUrl)} for the list of voices.`;
    const shape = parts ? '' : ' Piper voice ids look like <lang>_<REGION>-<name>-<quality>, e.g. en_US-lessac-medium.';
    throw new VoiceDownloadError(
      'unknown-voice',
      id,
      `Unknown voice id "${id}": it is not in the Piper voice catalog ${catalogUrl(baseUrl)}.${shape}${hint}`,
    );
  }
  if (!parts) {
    // Only possible with a mirror whose catalog uses other keys; the id names files and a directory.
    throw new VoiceDownloadError('invalid-id', id, `The catalog lists "${id}", but ${new InvalidVoiceIdError(id).message}.`);
  }
  const entry = catalogEntrySchema.safeParse(rawEntry);
  const files = entry.success ? catalogVoiceFiles(id, entry.data) : { model: undefined, config: undefined };
  if (!files.model || !files.config) {
    const why = entry.success ? `lists no ${files.model ? '.onnx.json' : '.onnx'} file` : `is malformed (${entry.error.issues[0]?.message ?? 'invalid'})`;
    throw new VoiceDownloadError('integrity', id, recoveryMessage(id, root, `the catalog entry for ${id} ${why}`, baseUrl));
  }

  const dir = join(root, 'piper', id);
  await mkdir(dir, { recursive: true });
  // Config first: it is small and proves the voice is usable before the large model is fetched.
  const jobs: FileJob[] = [
    { file: `${id}.onnx.json`, dest: join(dir, `${id}.onnx.json`), url: piperFileUrl(files.config.path, baseUrl), expected: files.config },
    { file: `${id}.onnx`, dest: join(dir, `${id}.onnx`), url: piperFileUrl(files.model.path, baseUrl), expected: files.model },
  ];
  const results: DownloadedFile[] = [];
  for (const [fileIndex, job] of jobs.entries()) {
    const ctx: JobContext = { id, root, baseUrl, doFetch, signal, fileIndex, fileCount: jobs.length, onProgress: options.onProgress };
    results.push(await downloadFile(job, ctx));
  }

  const voicepack = await finishVoicepack(id, root, (what, cause) => new VoiceDownloadError('invalid-voice', id, recoveryMessage(id, root, what, baseUrl), { cause }));
  return { voicepack, files: results };
}

/** Writes metadata.yaml from the voice's config and checks the result with loadVoicepack. */
async function finishVoicepack(id: string, root: string, fail: (what: string, cause?: unknown) => Error): Promise<Voicepack> {
  const dir = join(root, 'piper', id);
  const configPath = join(dir, `${id}.onnx.json`);
  let metadata: VoiceMetadata;
  try {
    metadata = metadataFor(id, await readFile(configPath, 'utf8'));
  } catch (err) {
    throw fail(`${configPath} is not a usable Piper config (${(err as Error).message})`, err);
  }
  await writeVoiceMetadata(dir, metadata);
  try {
    return loadVoicepack(id, root);
  } catch (err) {
    throw fail(`the installed voicepack does not load (${(err as Error).message})`, err);
  }
}

/**
 * For voices placed by hand: checks that `<id>.onnx` and `<id>.onnx.json` exist in
 * `<root>/piper/<id>/`, writes metadata.yaml and returns the loaded voicepack. No network.
 */
export async function registerLocalVoice(id: string, options: { root?: string } = {}): Promise<Voicepack> {
  const root = resolve(options.root ?? voicepacksDir());
  try {
    parsePiperVoiceId(id);
  } catch (err) {
    throw new VoiceDownloadError('invalid-id', id, (err as Error).message, { cause: err });
  }
  const dir = join(root, 'piper', id);
  const absent: string[] = [];
  for (const f of [`${id}.onnx`, `${id}.onnx.json`]) if ((await fileSize(join(dir, f))) === undefined) absent.push(f);
  if (absent.length > 0) {
    throw new VoiceDownloadError(
      'invalid-voice',
      id,
      `Cannot register "${id}" offline: ${absent.join(' and ')} not found in ${dir}/. ` +
        `Place the files there, or download them with: ${downloadCommand(id, root)}`,
    );
  }
  return finishVoicepack(id, root, (what, cause) => new VoiceDownloadError('invalid-voice', id, `Cannot register "${id}" offline: ${what}.`, { cause }));
}
