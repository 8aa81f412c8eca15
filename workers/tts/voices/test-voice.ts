import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { stringify as stringifyYaml } from 'yaml';
import type { VoiceMetadata } from './voicepack.js';

// onnx-proto is CommonJS; Node's ESM loader only exposes its default export.
const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

export const TEST_VOICE_ID = 'en_US-test-tiny';
// 16 kHz rather than Piper's usual 22.05 kHz so the resampler's 16k path gets exercised.
export const TEST_VOICE_SAMPLE_RATE = 16000;
/** Samples per phoneme at length_scale 1 (Piper's hop length). */
export const TEST_VOICE_HOP = 256;

/**
 * Piper's default espeak phoneme table (piper-tts `DEFAULT_PHONEME_ID_MAP`): the symbol at index i has id i.
 * Combining marks are escaped because they are invisible in source.
 */
const PIPER_DEFAULT_SYMBOLS = [
  '_', '^', '$', ' ', '!', '\'', '(', ')', ',', '-', '.', ':', ';', '?', 'a', 'b', 'c', 'd', 'e', 'f', 'h',
  'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'æ', 'ç', 'ð',
  'ø', 'ħ', 'ŋ', 'œ', 'ǀ', 'ǁ', 'ǂ', 'ǃ', 'ɐ', 'ɑ', 'ɒ', 'ɓ', 'ɔ', 'ɕ', 'ɖ', 'ɗ', 'ɘ', 'ə', 'ɚ', 'ɛ', 'ɜ',
  'ɞ', 'ɟ', 'ɠ', 'ɡ', 'ɢ', 'ɣ', 'ɤ', 'ɥ', 'ɦ', 'ɧ', 'ɨ', 'ɪ', 'ɫ', 'ɬ', 'ɭ', 'ɮ', 'ɯ', 'ɰ', 'ɱ', 'ɲ', 'ɳ',
  'ɴ', 'ɵ', 'ɶ', 'ɸ', 'ɹ', 'ɺ', 'ɻ', 'ɽ', 'ɾ', 'ʀ', 'ʁ', 'ʂ', 'ʃ', 'ʄ', 'ʈ', 'ʉ', 'ʊ', 'ʋ', 'ʌ', 'ʍ', 'ʎ',
  'ʏ', 'ʐ', 'ʑ', 'ʒ', 'ʔ', 'ʕ', 'ʘ', 'ʙ', 'ʛ', 'ʜ', 'ʝ', 'ʟ', 'ʡ', 'ʢ', 'ʲ', 'ˈ', 'ˌ', 'ː', 'ˑ', '˞', 'β',
  'θ', 'χ', 'ᵻ', 'ⱱ', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '\u0327', '\u0303', '\u032a',
  '\u032f', '\u0329', 'ʰ', 'ˤ', 'ε', '↓', '#', '"', '↑', '\u033a', '\u033b', 'g', 'ʦ', 'X', '\u031d',
  '\u030a', 'ɝ', 'ʷ', 'aɪ', 'aʊ', 'ɔɪ', 'eɪ', 'oʊ',
] as const;

export const PIPER_DEFAULT_PHONEME_ID_MAP: Readonly<Record<string, number[]>> = Object.fromEntries(
  PIPER_DEFAULT_SYMBOLS.map((symbol, id) => [symbol, [id]]),
);

const SPEAKER_NAMES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];

export interface TestVoiceModelOptions {
  numSpeakers?: number;
}

export interface TestVoiceOptions extends TestVoiceModelOptions {
  id?: string;
}

const { FLOAT, INT64 } = onnx.TensorProto.DataType;

function checkSpeakers(numSpeakers: number): number {
  if (!Number.isInteger(numSpeakers) || numSpeakers < 1) {
    throw new RangeError(`numSpeakers must be a positive integer, got ${numSpeakers}`);
  }
  return numSpeakers;
}

function tensorInfo(name: string, elemType: number, dims: (number | string)[]): IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function node(opType: string, input: string[], output: string, attribute?: INodeProto['attribute']): INodeProto {
  return { opType, input, output: [output], name: output, attribute: attribute ?? [] };
}

/** dims [] makes a scalar, which Range and the Gather indices below require. */
function constant(name: string, elemType: number, values: number[], dims: number[] = []): ITensorProto {
  return elemType === FLOAT
    ? { name, dataType: FLOAT, dims, floatData: values }
    : { name, dataType: INT64, dims, int64Data: values };
}

/**
 * An ONNX model with Piper's exact I/O that plays one sine tone per phoneme id:
 * floor(256 * length_scale) samples each (at least 1), pitch 110 + 8*id (+ 45*sid) Hz, amplitude
 * clip(0.25 + 0.25 * noise_scale, 0, 0.9). Only the first min(input_lengths[0], N) ids sound, as in Piper.
 */
export function buildTestVoiceModel(opts: TestVoiceModelOptions = {}): Uint8Array {
  const multiSpeaker = checkSpeakers(opts.numSpeakers ?? 1) > 1;
  const initializer = [
    constant('c_flat', INT64, [-1], [1]),
    constant('c_out_shape', INT64, [1, 1, 1, -1], [4]),
    constant('c_i0', INT64, [0]),
    constant('c_i1', INT64, [1]),
    constant('c_hop', FLOAT, [TEST_VOICE_HOP]),
    constant('c_one', FLOAT, [1]),
    constant('c_zero', FLOAT, [0]),
    constant('c_quarter', FLOAT, [0.25]),
    constant('c_amp_max', FLOAT, [0.9]),
    constant('c_hz_per_id', FLOAT, [8]),
    constant('c_hz_base', FLOAT, [110]),
    constant('c_rad_per_sample', FLOAT, [(2 * Math.PI) / TEST_VOICE_SAMPLE_RATE]),
    // Unused initializers make onnxruntime log a warning on every load.
    ...(multiSpeaker ? [constant('c_hz_per_sid', FLOAT, [45])] : []),
  ];
  const nodes: INodeProto[] = [
    node('Reshape', ['input', 'c_flat'], 'ids'),
    node('Shape', ['ids'], 'ids_shape'),
    node('Gather', ['ids_shape', 'c_i0'], 'n_ids'),
    node('Gather', ['input_lengths', 'c_i0'], 'n_len'),
    // Guards Gather against an input_lengths larger than the tensor.
    node('Min', ['n_ids', 'n_len'], 'n'),
    node('Gather', ['scales', 'c_i0'], 'noise_scale'),
    node('Gather', ['scales', 'c_i1'], 'length_scale'),
    node('Mul', ['length_scale', 'c_hop'], 'hop_raw'),
    node('Floor', ['hop_raw'], 'hop_floor'),
    // A zero hop would divide by zero below.
    node('Max', ['hop_floor', 'c_one'], 'hop_f'),
    node('Cast', ['hop_f'], 'hop', [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: INT64 }]),
    node('Mul', ['n', 'hop'], 'total'),
    node('Range', ['c_i0', 'total', 'c_i1'], 't'),
    node('Div', ['t', 'hop'], 'phoneme_index'),
    node('Gather', ['ids', 'phoneme_index'], 'sample_ids'),
    node('Mul', ['phoneme_index', 'hop'], 'phoneme_start'),
    // Phase restarts per phoneme so float32 stays exact however long the utterance is.
    node('Sub', ['t', 'phoneme_start'], 'pos'),
    node('Cast', ['pos'], 'pos_f', [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }]),
    node('Cast', ['sample_ids'], 'ids_f', [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }]),
    node('Mul', ['ids_f', 'c_hz_per_id'], 'id_hz'),
    node('Add', ['id_hz', 'c_hz_base'], multiSpeaker ? 'base_hz' : 'hz'),
    ...(multiSpeaker
      ? [
          node('Cast', ['sid'], 'sid_f', [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }]),
          node('Mul', ['sid_f', 'c_hz_per_sid'], 'sid_hz'),
          node('Add', ['base_hz', 'sid_hz'], 'hz'),
        ]
      : []),
    node('Mul', ['pos_f', 'hz'], 'cycles_x'),
    node('Mul', ['cycles_x', 'c_rad_per_sample'], 'phase'),
    node('Sin', ['phase'], 'tone'),
    node('Mul', ['noise_scale', 'c_quarter'], 'amp_var'),
    node('Add', ['amp_var', 'c_quarter'], 'amp_raw'),
    node('Clip', ['amp_raw', 'c_zero', 'c_amp_max'], 'amp'),
    node('Mul', ['tone', 'amp'], 'wave'),
    node('Reshape', ['wave', 'c_out_shape'], 'output'),
  ];
  const input = [
    tensorInfo('input', INT64, [1, 'phonemes']),
    tensorInfo('input_lengths', INT64, [1]),
    tensorInfo('scales', FLOAT, [3]),
    ...(multiSpeaker ? [tensorInfo('sid', INT64, [1])] : []),
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'duplex-voice test-voice',
    graph: {
      name: 'piper_test_voice',
      node: nodes,
      initializer,
      input,
      output: [tensorInfo('output', FLOAT, [1, 1, 1, 'time'])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Writes `<root>/piper/<id>/` (model, Piper config, metadata.yaml) and returns that directory. */
export function writeTestVoice(root: string, opts: TestVoiceOptions = {}): string {
  const id = opts.id ?? TEST_VOICE_ID;
  const numSpeakers = checkSpeakers(opts.numSpeakers ?? 1);
  const dir = join(root, 'piper', id);
  mkdirSync(dir, { recursive: true });

  const speakerIdMap: Record<string, number> = {};
  if (numSpeakers > 1) {
    for (let i = 0; i < numSpeakers; i++) speakerIdMap[SPEAKER_NAMES[i] ?? `speaker_${i}`] = i;
  }
  const config = {
    audio: { sample_rate: TEST_VOICE_SAMPLE_RATE, quality: 'x_low' },
    espeak: { voice: 'en-us' },
    inference: { noise_scale: 0.667, length_scale: 1, noise_w: 0.8 },
    phoneme_type: 'espeak',
    phoneme_map: {},
    phoneme_id_map: PIPER_DEFAULT_PHONEME_ID_MAP,
    num_symbols: 256,
    num_speakers: numSpeakers,
    speaker_id_map: speakerIdMap,
    piper_version: '1.0.0',
    language: { code: 'en_US', family: 'en', region: 'US' },
    dataset: 'test-tiny',
  };
  const metadata: VoiceMetadata = {
    model_id: id,
    family: 'piper',
    language: 'en_US',
    voice_name: 'test-tiny',
    variant: 'x_low',
    sample_rate: TEST_VOICE_SAMPLE_RATE,
    tags: ['test', 'synthetic', ...(numSpeakers > 1 ? ['multi-speaker'] : [])],
    onnx_model: `${id}.onnx`,
    config_file: `${id}.onnx.json`,
  };

  writeFileSync(join(dir, metadata.onnx_model), buildTestVoiceModel({ numSpeakers }));
  writeFileSync(join(dir, metadata.config_file), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(dir, 'metadata.yaml'), stringifyYaml(metadata));
  return dir;
}
