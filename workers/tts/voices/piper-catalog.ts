/**
 * Piper voice ids, download locations and voicepack metadata.
 *
 * Voices are published in the public `rhasspy/piper-voices` repository on Hugging Face:
 *   <base>/<family>/<lang>_<REGION>/<name>/<quality>/<id>.onnx (+ .onnx.json)
 *   <base>/voices.json — the catalog: voice key → { files: { <path>: { size_bytes, md5_digest } }, … }
 */
import { z } from 'zod';
import { piperConfigSchema, voiceMetadataSchema, type VoiceMetadata } from './voicepack.js';

/** Pinned release of the voices repository (the same revision Piper's own downloader uses). */
export const DEFAULT_PIPER_VOICES_URL = 'https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/';
export const CATALOG_FILE = 'voices.json';

export const PIPER_QUALITIES = ['x_low', 'low', 'medium', 'high'] as const;
export type PiperQuality = (typeof PIPER_QUALITIES)[number];

export interface PiperVoiceIdParts {
  /** The whole id, e.g. `en_US-lessac-medium`. */
  id: string;
  /** Locale, e.g. `en_US`. */
  language: string;
  /** Language family, e.g. `en`. */
  family: string;
  /** Region, e.g. `US`. */
  region: string;
  /** Speaker / dataset name, e.g. `lessac` or `hfc_female`. */
  name: string;
  quality: PiperQuality;
}

export class InvalidVoiceIdError extends Error {
  constructor(readonly voiceId: string) {
    super(
      `"${voiceId}" is not a Piper voice id: expected <lang>_<REGION>-<name>-<quality> ` +
        `with quality one of ${PIPER_QUALITIES.join('|')} (e.g. en_US-lessac-medium)`,
    );
    this.name = 'InvalidVoiceIdError';
  }
}

// Names are letters, digits and underscores (hfc_female, thorsten_emotional); the hyphen separates the parts.
const VOICE_ID_RE = new RegExp(`^(([a-z]{2,3})_([A-Z]{2}))-([A-Za-z0-9_]+)-(${PIPER_QUALITIES.join('|')})$`);

/** Splits a Piper voice id into its parts, or returns null when it does not have the Piper shape. */
export function tryParsePiperVoiceId(id: string): PiperVoiceIdParts | null {
  const m = VOICE_ID_RE.exec(id);
  if (!m) return null;
  const [, language, family, region, name, quality] = m;
  if (!language || !family || !region || !name || !quality) return null;
  return { id, language, family, region, name, quality: quality as PiperQuality };
}

/** Splits a Piper voice id into its parts; throws InvalidVoiceIdError when it is malformed. */
export function parsePiperVoiceId(id: string): PiperVoiceIdParts {
  const parts = tryParsePiperVoiceId(id);
  if (!parts) throw new InvalidVoiceIdError(id);
  return parts;
}

/** The voices repository base URL: explicit override, else `PIPER_VOICES_URL`, else the public host. Always ends in `/`. */
export function piperVoicesBaseUrl(override?: string): string {
  const raw = override ?? process.env.PIPER_VOICES_URL ?? DEFAULT_PIPER_VOICES_URL;
  const trimmed = raw.trim();
  if (trimmed === '') return DEFAULT_PIPER_VOICES_URL;
  // Validate early: a bad env value should fail with the offending value in the message.
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new Error(`PIPER_VOICES_URL / base URL "${raw}" is not a valid absolute URL`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.toString();
}

/** Repository-relative paths of a voice's files, e.g. `en/en_US/lessac/medium/en_US-lessac-medium.onnx`. */
export function voiceFilePaths(id: string): { model: string; config: string } {
  const p = parsePiperVoiceId(id);
  const dir = `${p.family}/${p.language}/${p.name}/${p.quality}`;
  return { model: `${dir}/${id}.onnx`, config: `${dir}/${id}.onnx.json` };
}

/** Resolves a repository-relative path (or the catalog file) against the base URL. */
export function piperFileUrl(relativePath: string, baseUrl?: string): string {
  return new URL(relativePath, piperVoicesBaseUrl(baseUrl)).toString();
}

export function catalogUrl(baseUrl?: string): string {
  return piperFileUrl(CATALOG_FILE, baseUrl);
}

/** Download URLs for a voice's model, config, and the catalog. */
export function voiceUrls(id: string, baseUrl?: string): { model: string; config: string; catalog: string } {
  const paths = voiceFilePaths(id);
  return {
    model: piperFileUrl(paths.model, baseUrl),
    config: piperFileUrl(paths.config, baseUrl),
    catalog: catalogUrl(baseUrl),
  };
}

export const catalogFileSchema = z.looseObject({
  size_bytes: z.number().int().nonnegative(),
  md5_digest: z.string().regex(/^[0-9a-fA-F]{32}$/, 'expected a 32-digit hex md5'),
});
export type CatalogFile = z.infer<typeof catalogFileSchema>;

/** One voice entry of voices.json. Only `files` is required; other keys are kept. */
export const catalogEntrySchema = z.looseObject({
  files: z.record(z.string(), catalogFileSchema),
});
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;

/** voices.json as a whole: entries are validated one at a time (see catalogEntrySchema). */
export const piperCatalogSchema = z.record(z.string(), z.unknown());
export type PiperCatalog = z.infer<typeof piperCatalogSchema>;

export interface CatalogVoiceFile extends CatalogFile {
  /** Repository-relative path as listed in the catalog. */
  path: string;
}

/**
 * Finds the model and config entries of a voice in its catalog entry. Prefers the canonical
 * path, then any listed path ending in `/<id>.onnx` (`.onnx.json`).
 */
export function catalogVoiceFiles(
  id: string,
  entry: CatalogEntry,
): { model: CatalogVoiceFile | undefined; config: CatalogVoiceFile | undefined } {
  const canonical = voiceFilePaths(id);
  const pick = (wanted: string, fileName: string): CatalogVoiceFile | undefined => {
    const exact = entry.files[wanted];
    if (exact) return { ...exact, path: wanted };
    for (const [path, file] of Object.entries(entry.files)) {
      if (path === fileName || path.endsWith(`/${fileName}`)) return { ...file, path };
    }
    return undefined;
  };
  return { model: pick(canonical.model, `${id}.onnx`), config: pick(canonical.config, `${id}.onnx.json`) };
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j] ?? 0;
      const left = prev[j - 1] ?? 0;
      prev[j] = Math.min(above + 1, left + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = above;
    }
  }
  return prev[b.length] ?? 0;
}

/** Catalog keys that look like what the user meant: small edit distance, or sharing the speaker name. */
export function closeMatches(id: string, keys: Iterable<string>, limit = 5): string[] {
  const wanted = id.toLowerCase();
  const wantedName = tryParsePiperVoiceId(id)?.name.toLowerCase();
  const scored: { key: string; score: number }[] = [];
  for (const key of keys) {
    const k = key.toLowerCase();
    const dist = editDistance(wanted, k);
    const keyName = tryParsePiperVoiceId(key)?.name.toLowerCase();
    let score = Number.POSITIVE_INFINITY;
    if (dist <= Math.max(3, Math.floor(wanted.length / 4))) score = dist;
    // Same speaker in another locale/quality, or a bare name ("lessac") / partial id typed.
    else if ((wantedName && keyName === wantedName) || (wanted.length >= 3 && k.includes(wanted))) score = 100 + dist;
    if (Number.isFinite(score)) scored.push({ key, score });
  }
  scored.sort((x, y) => x.score - y.score || x.key.localeCompare(y.key));
  return scored.slice(0, limit).map((s) => s.key);
}

/**
 * Builds the metadata.yaml object for a Piper voice from its id and its `.onnx.json` (parsed
 * object or raw JSON text). The config must be a valid Piper config (piperConfigSchema).
 */
export function metadataFor(id: string, piperConfigJson: unknown): VoiceMetadata {
  const parts = parsePiperVoiceId(id);
  let raw = piperConfigJson;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch (err) {
      throw new Error(`Piper config for ${id} is not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }
  const parsed = piperConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`Piper config for ${id} is invalid (${detail})`);
  }
  const config = parsed.data;
  const language = config.language?.code || parts.language;
  return voiceMetadataSchema.parse({
    model_id: id,
    family: 'piper',
    language,
    voice_name: parts.name,
    variant: parts.quality,
    sample_rate: config.audio.sample_rate,
    tags: [...new Set([parts.quality, language])],
    onnx_model: `${id}.onnx`,
    config_file: `${id}.onnx.json`,
  });
}
