import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** Voices root (holds `piper/<id>/`); `VOICEPACKS_DIR` overrides the repository's `voicepacks/`. */
export function voicepacksDir(): string {
  if (process.env.VOICEPACKS_DIR) return resolve(process.env.VOICEPACKS_DIR);
  return realDirectory(join(repoRoot, 'voicepacks'));
}

/**
 * `dir` through its links, when it exists. The compiled services run from dist/server, which
 * links voicepacks/ back to the repository: paths in messages and logs should name the
 * directory a user puts voices in.
 */
export function realDirectory(dir: string): string {
  return existsSync(dir) ? realpathSync(dir) : dir;
}

export const DEFAULT_VOICE_ID = 'en_US-lessac-medium';

export const voiceMetadataSchema = z.object({
  model_id: z.string().min(1),
  family: z.literal('piper'),
  language: z.string().min(1),
  voice_name: z.string().min(1),
  variant: z.string().min(1),
  sample_rate: z.number().int().positive(),
  tags: z.array(z.string()).default([]),
  onnx_model: z.string().min(1),
  config_file: z.string().min(1),
});
export type VoiceMetadata = z.infer<typeof voiceMetadataSchema>;

/** The parts of a Piper `.onnx.json` the engine reads. Unknown keys are kept, not rejected. */
export const piperConfigSchema = z.looseObject({
  audio: z.looseObject({ sample_rate: z.number().int().positive() }),
  espeak: z.looseObject({ voice: z.string().min(1) }).optional(),
  inference: z
    .looseObject({
      noise_scale: z.number().default(0.667),
      length_scale: z.number().default(1),
      noise_w: z.number().default(0.8),
    })
    .default({ noise_scale: 0.667, length_scale: 1, noise_w: 0.8 }),
  phoneme_type: z.string().default('espeak'),
  phoneme_map: z.record(z.string(), z.array(z.string())).default({}),
  phoneme_id_map: z.record(z.string(), z.array(z.number().int().nonnegative())),
  num_speakers: z.number().int().positive().default(1),
  speaker_id_map: z.record(z.string(), z.number().int().nonnegative()).default({}),
  language: z.looseObject({ code: z.string() }).optional(),
});
export type PiperConfig = z.infer<typeof piperConfigSchema>;

export interface Voicepack {
  id: string;
  dir: string;
  metadata: VoiceMetadata;
  modelPath: string;
  configPath: string;
  config: PiperConfig;
}

export class VoiceNotFoundError extends Error {
  constructor(
    readonly voiceId: string,
    readonly root: string,
    detail: string,
  ) {
    super(
      `Voice "${voiceId}" is not usable: ${detail}. ` +
        `Run \`npm run voices:download -- ${voiceId}\`, or place the voice's .onnx, .onnx.json and metadata.yaml in ${join(root, 'piper', voiceId)}/.`,
    );
    this.name = 'VoiceNotFoundError';
  }
}

function formatZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Loads and validates one voicepack; any missing or broken part raises a VoiceNotFoundError. */
export function loadVoicepack(id: string, root = voicepacksDir()): Voicepack {
  const dir = join(root, 'piper', id);
  if (!existsSync(dir)) throw new VoiceNotFoundError(id, root, `no directory ${dir}`);
  const metadataPath = join(dir, 'metadata.yaml');
  if (!existsSync(metadataPath)) throw new VoiceNotFoundError(id, root, `missing ${metadataPath}`);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(metadataPath, 'utf8'));
  } catch (err) {
    throw new VoiceNotFoundError(id, root, `metadata.yaml is not valid YAML (${(err as Error).message})`);
  }
  const meta = voiceMetadataSchema.safeParse(raw);
  if (!meta.success) throw new VoiceNotFoundError(id, root, `metadata.yaml is invalid (${formatZodError(meta.error)})`);
  const modelPath = join(dir, meta.data.onnx_model);
  const configPath = join(dir, meta.data.config_file);
  if (!existsSync(modelPath)) throw new VoiceNotFoundError(id, root, `missing model ${modelPath}`);
  if (!existsSync(configPath)) throw new VoiceNotFoundError(id, root, `missing config ${configPath}`);
  let configRaw: unknown;
  try {
    configRaw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new VoiceNotFoundError(id, root, `${configPath} is not valid JSON (${(err as Error).message})`);
  }
  const config = piperConfigSchema.safeParse(configRaw);
  if (!config.success) throw new VoiceNotFoundError(id, root, `${configPath} is invalid (${formatZodError(config.error)})`);
  return { id, dir, metadata: meta.data, modelPath, configPath, config: config.data };
}

/** Ids of every voice directory under `<root>/piper/` that holds a metadata.yaml. */
export function listVoiceIds(root = voicepacksDir()): string[] {
  const piperDir = join(root, 'piper');
  if (!existsSync(piperDir)) return [];
  return readdirSync(piperDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(piperDir, d.name, 'metadata.yaml')))
    .map((d) => d.name)
    .sort();
}
