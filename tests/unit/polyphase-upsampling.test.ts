import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { rewriteUpsampling } from '../../workers/tts/engine/polyphase-upsampling.js';
import { preparedModelPath } from '../../workers/tts/engine/prepared-model.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;
const { INT, INTS } = onnx.AttributeProto.AttributeType;

interface Layer {
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pads: [number, number];
  bias?: boolean;
  extra?: onnxProto.onnx.IAttributeProto[];
}

/** Deterministic weights in [-0.5, 0.5). */
function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648 - 0.5;
  });
}

/** x [1, cin, T] -> ConvTranspose -> LeakyRelu -> y, with T left dynamic like Piper's. */
function modelWith(layer: Layer, opset = 15): Uint8Array {
  const { cin, cout, k, stride, pads } = layer;
  const initializer: onnxProto.onnx.ITensorProto[] = [{ name: 'w', dataType: FLOAT, dims: [cin, cout, k], floatData: [...noise(cin * cout * k, 7)] }];
  const inputs = ['x', 'w'];
  if (layer.bias !== false) {
    initializer.push({ name: 'b', dataType: FLOAT, dims: [cout], floatData: [...noise(cout, 11)] });
    inputs.push('b');
  }
  const graph = onnx.GraphProto.create({
    name: 'upsample',
    node: [
      {
        opType: 'ConvTranspose',
        name: 'up',
        input: inputs,
        output: ['u'],
        attribute: [
          { name: 'kernel_shape', type: INTS, ints: [k] },
          { name: 'strides', type: INTS, ints: [stride] },
          { name: 'pads', type: INTS, ints: pads },
          ...(layer.extra ?? []),
        ],
      },
      { opType: 'LeakyRelu', name: 'act', input: ['u'], output: ['y'] },
    ],
    initializer,
    input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: cin }, { dimParam: 'T' }] } } } }],
    output: [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ version: opset }], graph })).finish();
}

async function run(model: Uint8Array, cin: number, frames: number): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const x = new ort.Tensor('float32', noise(cin * frames, 3), [1, cin, frames]);
  const out = (await session.run({ x })).y as ort.Tensor;
  await session.release();
  return out;
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let max = 0;
  for (let i = 0; i < x.length; i += 1) max = Math.max(max, Math.abs((x[i] as number) - (y[i] as number)));
  return max;
}

function opTypes(model: Uint8Array): string[] {
  return (onnx.ModelProto.decode(model).graph?.node ?? []).map((n) => n.opType ?? '');
}

describe('rewriteUpsampling (ConvTranspose as polyphase Conv)', () => {
  const layers: [string, Layer][] = [
    ["Piper medium's first upsampling (k16 s8 p4)", { cin: 8, cout: 6, k: 16, stride: 8, pads: [4, 4] }],
    ['k8 s4 p2', { cin: 5, cout: 4, k: 8, stride: 4, pads: [2, 2] }],
    ['k4 s2 p1 without bias', { cin: 3, cout: 2, k: 4, stride: 2, pads: [1, 1], bias: false }],
    ['kernel not a multiple of the stride (k5 s2)', { cin: 4, cout: 3, k: 5, stride: 2, pads: [1, 1] }],
    ['no padding', { cin: 4, cout: 3, k: 6, stride: 3, pads: [0, 0] }],
    ['asymmetric padding', { cin: 4, cout: 3, k: 7, stride: 3, pads: [2, 0] }],
    ['stride 1', { cin: 4, cout: 3, k: 3, stride: 1, pads: [1, 1] }],
  ];
  for (const [label, layer] of layers) {
    it(`gives the same output as onnxruntime's ConvTranspose: ${label}`, async () => {
      const original = modelWith(layer);
      const { rewritten, bytes } = rewriteUpsampling(original);
      expect(rewritten).toBe(1);
      expect(bytes).toBeDefined();
      expect(opTypes(bytes as Uint8Array)).not.toContain('ConvTranspose');
      for (const frames of [1, 2, 17]) {
        const want = await run(original, layer.cin, frames);
        const got = await run(bytes as Uint8Array, layer.cin, frames);
        expect(got.dims, `${frames} frames`).toEqual(want.dims);
        expect(maxAbsDiff(got, want), `${frames} frames`).toBeLessThan(1e-5);
      }
    });
  }

  it('keeps the old weights out of the rewritten model (onnxruntime warns about unused ones)', () => {
    const { bytes } = rewriteUpsampling(modelWith({ cin: 4, cout: 3, k: 8, stride: 4, pads: [2, 2] }));
    const names = (onnx.ModelProto.decode(bytes as Uint8Array).graph?.initializer ?? []).map((t) => t.name);
    expect(names).not.toContain('w');
    expect(names).not.toContain('b');
  });

  const untouched: [string, Uint8Array][] = [
    ['grouped', modelWith({ cin: 4, cout: 2, k: 4, stride: 2, pads: [1, 1], extra: [{ name: 'group', type: INT, i: 2 }] })],
    ['dilated', modelWith({ cin: 4, cout: 3, k: 4, stride: 2, pads: [1, 1], extra: [{ name: 'dilations', type: INTS, ints: [2] }] })],
    ['output padding', modelWith({ cin: 4, cout: 3, k: 4, stride: 2, pads: [1, 1], extra: [{ name: 'output_padding', type: INTS, ints: [1] }] })],
    ['opset 9 (Slice without range inputs)', modelWith({ cin: 4, cout: 3, k: 4, stride: 2, pads: [1, 1] }, 9)],
  ];
  it('leaves a model with weights in a side file alone (a copy elsewhere would not find them)', () => {
    const model = onnx.ModelProto.decode(modelWith({ cin: 4, cout: 3, k: 4, stride: 2, pads: [1, 1] }));
    const first = model.graph?.initializer?.[0];
    if (!first) throw new Error('test model has no initializer');
    first.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    first.externalData = [{ key: 'location', value: 'weights.bin' }];
    expect(rewriteUpsampling(onnx.ModelProto.encode(model).finish())).toEqual({ rewritten: 0 });
  });

  for (const [label, model] of untouched) {
    it(`leaves a layer it cannot rewrite exactly alone: ${label}`, () => {
      expect(rewriteUpsampling(model)).toEqual({ rewritten: 0 });
    });
  }
});

describe('preparedModelPath', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'prepared-model-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes the prepared copy beside the voice once, then reuses it', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, modelWith({ cin: 4, cout: 3, k: 8, stride: 4, pads: [2, 2] }));
    const first = await preparedModelPath(model);
    expect(first).toMatchObject({ prepared: true, created: true });
    expect(first.path.startsWith(join(dir, 'voice.polyphase-'))).toBe(true);
    expect(opTypes(readFileSync(first.path))).toContain('Conv');
    const again = await preparedModelPath(model);
    expect(again.path).toBe(first.path);
    expect(statSync(first.path).mtimeMs).toBe(statSync(again.path).mtimeMs);
  });

  it('prepares a replaced voice file again', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, modelWith({ cin: 4, cout: 3, k: 8, stride: 4, pads: [2, 2] }));
    const first = await preparedModelPath(model);
    writeFileSync(model, modelWith({ cin: 4, cout: 2, k: 8, stride: 4, pads: [2, 2] }));
    const second = await preparedModelPath(model);
    expect(second.created).toBe(true);
    expect(second.path).not.toBe(first.path);
    // The copy of the replaced file is gone; only the voice and its current copy remain.
    expect(readdirSync(dir).sort()).toEqual([basename(second.path), 'voice.onnx'].sort());
  });

  it('uses the voice as it is when there is nothing to rewrite', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, modelWith({ cin: 4, cout: 2, k: 4, stride: 2, pads: [1, 1], extra: [{ name: 'group', type: INT, i: 2 }] }));
    expect(await preparedModelPath(model)).toMatchObject({ path: model, prepared: false, created: false });
  });

  it('puts the prepared copy in the next directory when the first cannot be written', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, modelWith({ cin: 4, cout: 3, k: 6, stride: 3, pads: [0, 0] }));
    // A directory under a regular file can never be created, not even by root.
    const blocked = join(model, 'cache');
    const fallback = tempDir();
    const result = await preparedModelPath(model, [blocked, fallback]);
    expect(result).toMatchObject({ prepared: true, created: true });
    expect(result.path.startsWith(join(fallback, 'voice.polyphase-'))).toBe(true);
  });

  it('uses the voice as it is, with a warning, when no directory can be written', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, modelWith({ cin: 4, cout: 3, k: 6, stride: 3, pads: [0, 0] }));
    const result = await preparedModelPath(model, [join(model, 'cache')]);
    expect(result).toMatchObject({ path: model, prepared: false });
    expect(result.warning).toMatch(/no writable place/);
  });

  it('reports a broken voice file and hands back its path (the load then fails with its own error)', async () => {
    const dir = tempDir();
    const model = join(dir, 'voice.onnx');
    writeFileSync(model, 'not an onnx model');
    const result = await preparedModelPath(model);
    expect(result).toMatchObject({ path: model, prepared: false, created: false });
    expect(result.warning).toMatch(/preparing .*voice\.onnx failed/);
  });
});
