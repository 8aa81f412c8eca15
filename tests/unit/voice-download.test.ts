import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { downloadVoice, registerLocalVoice, VoiceDownloadError, type DownloadProgress } from '../../workers/tts/voices/download.js';
import {
  DEFAULT_PIPER_VOICES_URL,
  InvalidVoiceIdError,
  closeMatches,
  metadataFor,
  parsePiperVoiceId,
  piperVoicesBaseUrl,
  voiceUrls,
} from '../../workers/tts/voices/piper-catalog.js';
import { loadVoicepack, piperConfigSchema, VoiceNotFoundError } from '../../workers/tts/voices/voicepack.js';

const ID = 'en_US-lessac-medium';
const MODEL_PATH = `/en/en_US/lessac/medium/${ID}.onnx`;
const CONFIG_PATH = `/en/en_US/lessac/medium/${ID}.onnx.json`;
const PREFIX = '/rhasspy/piper-voices/resolve/v1.0.0';

/** A minimal but valid Piper config. */
const CONFIG = {
  audio: { sample_rate: 22050, quality: 'medium' },
  espeak: { voice: 'en-us' },
  inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
  phoneme_type: 'espeak',
  phoneme_map: {},
  phoneme_id_map: { _: [0], '^': [1], $: [2], ' ': [3], a: [4], b: [5] },
  num_symbols: 6,
  num_speakers: 1,
  speaker_id_map: {},
  piper_version: '1.0.0',
  language: { code: 'en_US', family: 'en', region: 'US' },
};
const CONFIG_BYTES = Buffer.from(JSON.stringify(CONFIG, null, 2));
const MODEL_BYTES = randomBytes(300_000);

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

function catalogFor(opts: { modelMd5?: string } = {}): Record<string, unknown> {
  const entry = (key: string, files: Record<string, { size_bytes: number; md5_digest: string }>) => ({
    key,
    language: { code: key.split('-')[0] },
    files,
    aliases: [],
  });
  const dummy = { size_bytes: 1, md5_digest: '0'.repeat(32) };
  return {
    [ID]: entry(ID, {
      [MODEL_PATH.slice(1)]: { size_bytes: MODEL_BYTES.length, md5_digest: opts.modelMd5 ?? md5(MODEL_BYTES) },
      [CONFIG_PATH.slice(1)]: { size_bytes: CONFIG_BYTES.length, md5_digest: md5(CONFIG_BYTES) },
      'en/en_US/lessac/medium/MODEL_CARD': dummy,
    }),
    'en_US-lessac-low': entry('en_US-lessac-low', { 'en/en_US/lessac/low/en_US-lessac-low.onnx': dummy }),
    'en_US-lessac-high': entry('en_US-lessac-high', { 'en/en_US/lessac/high/en_US-lessac-high.onnx': dummy }),
    'en_GB-alan-medium': entry('en_GB-alan-medium', { 'en/en_GB/alan/medium/en_GB-alan-medium.onnx': dummy }),
  };
}

let server: Server;
let baseUrl: string;
let routes: Map<string, { status?: number; body: Buffer; dropAfter?: number }>;
let hits: Map<string, number>;
let root: string;

function serve(opts: { modelMd5?: string; modelStatus?: number; modelDropAfter?: number } = {}): void {
  routes = new Map([
    [`${PREFIX}/voices.json`, { body: Buffer.from(JSON.stringify(catalogFor(opts))) }],
    [`${PREFIX}${CONFIG_PATH}`, { body: CONFIG_BYTES }],
    [`${PREFIX}${MODEL_PATH}`, { body: MODEL_BYTES, status: opts.modelStatus, dropAfter: opts.modelDropAfter }],
  ]);
}

const hitsOf = (path: string): number => hits.get(`${PREFIX}${path}`) ?? 0;
const voiceDir = (): string => join(root, 'piper', ID);

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET') hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (!route || (route.status ?? 200) !== 200) {
      res.writeHead(route?.status ?? 404, { 'content-type': 'text/plain' });
      res.end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': route.body.length });
    if (route.dropAfter !== undefined) {
      // Send part of the body, then cut the connection.
      res.write(route.body.subarray(0, route.dropAfter), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    for (let i = 0; i < route.body.length; i += 16_384) res.write(route.body.subarray(i, i + 16_384));
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  // No trailing slash on purpose: the base must still resolve below v1.0.0/.
  baseUrl = `http://127.0.0.1:${port}${PREFIX}`;
});

afterAll(async () => {
  await new Promise<void>((done) => server.close(() => done()));
});

beforeEach(() => {
  hits = new Map();
  serve();
  root = mkdtempSync(join(tmpdir(), 'voice-download-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<VoiceDownloadError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VoiceDownloadError);
  return err as VoiceDownloadError;
}

describe('downloadVoice', () => {
  it('writes the model, config and metadata.yaml, and the result loads with loadVoicepack', async () => {
    expect(piperConfigSchema.safeParse(CONFIG).success).toBe(true);
    const result = await downloadVoice(ID, { root, baseUrl });

    expect(result.files.map((f) => [f.file, f.status])).toEqual([
      [`${ID}.onnx.json`, 'downloaded'],
      [`${ID}.onnx`, 'downloaded'],
    ]);
    expect(readFileSync(join(voiceDir(), `${ID}.onnx`)).equals(MODEL_BYTES)).toBe(true);
    expect(readFileSync(join(voiceDir(), `${ID}.onnx.json`)).equals(CONFIG_BYTES)).toBe(true);
    expect(readdirSync(voiceDir()).sort()).toEqual([`${ID}.onnx`, `${ID}.onnx.json`, 'metadata.yaml']);

    const meta: unknown = parseYaml(readFileSync(join(voiceDir(), 'metadata.yaml'), 'utf8'));
    expect(meta).toEqual({
      model_id: ID,
      family: 'piper',
      language: 'en_US',
      voice_name: 'lessac',
      variant: 'medium',
      sample_rate: 22050,
      tags: ['medium', 'en_US'],
      onnx_model: `${ID}.onnx`,
      config_file: `${ID}.onnx.json`,
    });
    const voice = loadVoicepack(ID, root);
    expect(voice.config.audio.sample_rate).toBe(22050);
    expect(result.voicepack.modelPath).toBe(voice.modelPath);
    expect(hitsOf(MODEL_PATH)).toBe(1);
  });

  it('reports monotonic progress for each file, ending at its total', async () => {
    const events: DownloadProgress[] = [];
    await downloadVoice(ID, { root, baseUrl, onProgress: (p) => events.push({ ...p }) });

    for (const [file, size] of [
      [`${ID}.onnx`, MODEL_BYTES.length],
      [`${ID}.onnx.json`, CONFIG_BYTES.length],
    ] as const) {
      const mine = events.filter((e) => e.file === file);
      expect(mine.length).toBeGreaterThan(0);
      for (const e of mine) {
        expect(e.total).toBe(size);
        expect(e.skipped).toBe(false);
        expect(e.fileCount).toBe(2);
        expect(Number.isFinite(e.bytesPerSecond) && e.bytesPerSecond >= 0).toBe(true);
      }
      const bytes = mine.map((e) => e.bytes);
      for (let i = 1; i < bytes.length; i++) expect(bytes[i]).toBeGreaterThan(bytes[i - 1] ?? 0);
      expect(bytes.at(-1)).toBe(size);
    }
    // 300 kB arrives in several chunks, so the model reports intermediate progress.
    expect(events.filter((e) => e.file === `${ID}.onnx`).length).toBeGreaterThan(1);
  });

  it('rejects a checksum mismatch and leaves no model (or partial file) in place', async () => {
    serve({ modelMd5: 'f'.repeat(32) });
    const err = await rejection(downloadVoice(ID, { root, baseUrl }));

    expect(err.kind).toBe('integrity');
    expect(err.message).toMatch(/checksum mismatch/);
    expect(err.message).toContain(`md5 ${md5(MODEL_BYTES)}, expected ${'f'.repeat(32)}`);
    const left = readdirSync(voiceDir());
    expect(left).not.toContain(`${ID}.onnx`);
    expect(left.filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(left).not.toContain('metadata.yaml');
    expect(() => loadVoicepack(ID, root)).toThrow(VoiceNotFoundError);
  });

  it('is idempotent: a second run verifies the files and does not fetch them again', async () => {
    await downloadVoice(ID, { root, baseUrl });
    const events: DownloadProgress[] = [];
    const second = await downloadVoice(ID, { root, baseUrl, onProgress: (p) => events.push(p) });

    expect(second.files.map((f) => f.status)).toEqual(['present', 'present']);
    expect(hitsOf(MODEL_PATH)).toBe(1);
    expect(hitsOf(CONFIG_PATH)).toBe(1);
    expect(hitsOf('/voices.json')).toBe(2);
    expect(events.every((e) => e.skipped && e.bytes === e.total)).toBe(true);
    expect(loadVoicepack(ID, root).id).toBe(ID);
  });

  it('re-fetches a file whose size or md5 no longer matches the catalog', async () => {
    await downloadVoice(ID, { root, baseUrl });
    const corrupted = Buffer.from(MODEL_BYTES);
    corrupted[1000] = (corrupted[1000] ?? 0) ^ 0xff;
    writeFileSync(join(voiceDir(), `${ID}.onnx`), corrupted);

    const again = await downloadVoice(ID, { root, baseUrl });
    expect(again.files.map((f) => f.status)).toEqual(['present', 'downloaded']);
    expect(hitsOf(MODEL_PATH)).toBe(2);
    expect(readFileSync(join(voiceDir(), `${ID}.onnx`)).equals(MODEL_BYTES)).toBe(true);
  });

  it('rejects an unknown voice id, naming close matches', async () => {
    const err = await rejection(downloadVoice('en_US-lessac-mediun', { root, baseUrl }));
    expect(err.kind).toBe('unknown-voice');
    expect(err.message).toContain('Unknown voice id "en_US-lessac-mediun"');
    expect(err.message).toContain(`Close matches: ${ID}`);
    expect(existsSync(join(root, 'piper'))).toBe(false);

    const bare = await rejection(downloadVoice('lessac', { root, baseUrl }));
    expect(bare.message).toMatch(/Unknown voice id "lessac"/);
    for (const key of ['en_US-lessac-high', 'en_US-lessac-low', 'en_US-lessac-medium']) expect(bare.message).toContain(key);
    expect(bare.message).not.toContain('en_GB-alan-medium');
    expect(bare.message).toContain('<lang>_<REGION>-<name>-<quality>');
  });

  it('explains how to recover when the server is down', async () => {
    const dead = createServer();
    await new Promise<void>((done) => dead.listen(0, '127.0.0.1', done));
    const { port } = dead.address() as AddressInfo;
    await new Promise<void>((done) => dead.close(() => done()));

    const err = await rejection(downloadVoice(ID, { root, baseUrl: `http://127.0.0.1:${port}/` }));
    expect(err.kind).toBe('network');
    expect(err.message).toContain(`http://127.0.0.1:${port}/voices.json`);
    expect(err.message).toContain(`${join(root, 'piper', ID)}/`);
    expect(err.message).toContain(`npm run voices:download -- ${ID} --dir ${root}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('reports an HTTP error on a voice file the same way, without leaving a model behind', async () => {
    serve({ modelStatus: 404 });
    const err = await rejection(downloadVoice(ID, { root, baseUrl }));
    expect(err.kind).toBe('network');
    expect(err.message).toContain(`${baseUrl}${MODEL_PATH} failed (HTTP 404`);
    expect(err.message).toContain(`npm run voices:download -- ${ID}`);
    expect(existsSync(join(voiceDir(), `${ID}.onnx`))).toBe(false);
  });

  it('reports a connection dropped mid-file and removes the partial file', async () => {
    serve({ modelDropAfter: 100_000 });
    const err = await rejection(downloadVoice(ID, { root, baseUrl }));
    expect(err.kind).toBe('network');
    expect(err.message).toMatch(/failed after \d+ of 300000 bytes/);
    expect(err.message).toContain(`To retry the download, run: npm run voices:download -- ${ID}`);
    expect(readdirSync(voiceDir()).filter((f) => f.endsWith('.onnx') || f.endsWith('.part'))).toEqual([]);
  });

  it('uses the injected fetch', async () => {
    const calls: string[] = [];
    const fetchSpy: typeof fetch = (input, init) => {
      calls.push(String(input));
      return fetch(input, init);
    };
    await downloadVoice(ID, { root, baseUrl, fetch: fetchSpy });
    expect(calls).toEqual([`${baseUrl}/voices.json`, `${baseUrl}${CONFIG_PATH}`, `${baseUrl}${MODEL_PATH}`]);
  });
});

describe('registerLocalVoice', () => {
  it('writes metadata.yaml for files placed by hand', async () => {
    mkdirSync(voiceDir(), { recursive: true });
    writeFileSync(join(voiceDir(), `${ID}.onnx`), MODEL_BYTES);
    writeFileSync(join(voiceDir(), `${ID}.onnx.json`), CONFIG_BYTES);
    const voice = await registerLocalVoice(ID, { root });
    expect(voice.metadata.voice_name).toBe('lessac');
    expect(hits.size).toBe(0);
  });

  it('names the missing files', async () => {
    await expect(registerLocalVoice(ID, { root })).rejects.toThrow(/\.onnx and .*\.onnx\.json not found/);
  });
});

describe('piper catalog helpers', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('parses voice ids', () => {
    expect(parsePiperVoiceId('en_US-lessac-medium')).toEqual({
      id: 'en_US-lessac-medium',
      language: 'en_US',
      family: 'en',
      region: 'US',
      name: 'lessac',
      quality: 'medium',
    });
    expect(parsePiperVoiceId('zh_CN-huayan-x_low').quality).toBe('x_low');
    expect(parsePiperVoiceId('en_GB-southern_english_female-low').name).toBe('southern_english_female');
    for (const bad of ['lessac', 'en_US-lessac', 'en_US-lessac-ultra', 'en-US-lessac-medium', 'en_US-../x-low']) {
      expect(() => parsePiperVoiceId(bad)).toThrow(InvalidVoiceIdError);
    }
  });

  it('builds Hugging Face URLs, overridable by PIPER_VOICES_URL', () => {
    vi.stubEnv('PIPER_VOICES_URL', '');
    expect(voiceUrls(ID)).toEqual({
      model: `${DEFAULT_PIPER_VOICES_URL}en/en_US/lessac/medium/${ID}.onnx`,
      config: `${DEFAULT_PIPER_VOICES_URL}en/en_US/lessac/medium/${ID}.onnx.json`,
      catalog: `${DEFAULT_PIPER_VOICES_URL}voices.json`,
    });
    expect(DEFAULT_PIPER_VOICES_URL).toBe('https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/');
    vi.stubEnv('PIPER_VOICES_URL', 'https://mirror.example/piper');
    expect(piperVoicesBaseUrl()).toBe('https://mirror.example/piper/');
    expect(voiceUrls('de_DE-thorsten-high').model).toBe('https://mirror.example/piper/de/de_DE/thorsten/high/de_DE-thorsten-high.onnx');
    expect(piperVoicesBaseUrl('http://127.0.0.1:9/x/')).toBe('http://127.0.0.1:9/x/');
  });

  it('derives metadata from the id and config', () => {
    const meta = metadataFor('pt_BR-faber-medium', { ...CONFIG, audio: { sample_rate: 16000 }, language: { code: 'pt_BR' } });
    expect(meta).toMatchObject({ model_id: 'pt_BR-faber-medium', language: 'pt_BR', sample_rate: 16000, tags: ['medium', 'pt_BR'] });
    const noLang = metadataFor('en_GB-alan-low', JSON.stringify({ ...CONFIG, language: undefined }));
    expect(noLang.language).toBe('en_GB');
    expect(() => metadataFor(ID, { audio: {} })).toThrow(/invalid/);
  });

  it('suggests close matches', () => {
    const keys = ['en_US-lessac-medium', 'en_US-lessac-low', 'en_GB-alan-low', 'de_DE-thorsten-medium'];
    expect(closeMatches('en_US-lesac-medium', keys)[0]).toBe('en_US-lessac-medium');
    expect(closeMatches('thorsten', keys)).toEqual(['de_DE-thorsten-medium']);
    expect(closeMatches('xx_XX-nobody-high', keys)).toEqual([]);
  });
});

describe('loadVoicepack', () => {
  it('throws VoiceNotFoundError pointing at voices:download for a missing voice', () => {
    const missingRoot = mkdtempSync(join(tmpdir(), 'voice-missing-'));
    try {
      let caught: unknown;
      try {
        loadVoicepack('en_US-nobody-medium', missingRoot);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(VoiceNotFoundError);
      expect((caught as Error).message).toContain('npm run voices:download -- en_US-nobody-medium');
      expect((caught as Error).message).toContain(join(missingRoot, 'piper', 'en_US-nobody-medium'));
    } finally {
      rmSync(missingRoot, { recursive: true, force: true });
    }
  });
});
