import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { rewriteModelUpsampling } from '../../workers/tts/engine/polyphase-upsampling.js';
import { windowLastStage } from '../../workers/tts/engine/windowed-decoder.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;
const { INTS, FLOAT: FLOAT_ATTR } = onnx.AttributeProto.AttributeType;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

/** Deterministic values in [-0.5, 0.5). */
function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648 - 0.5;
  });
}

const CIN = 4;

/**
 * A small HiFi-GAN-shaped decoder: a first upsampling stage, then the last one (upsampling,
 * two residual branches with dilated "same" convolutions, their mean, the output Conv, tanh).
 */
function decoder(options: { lastStageExtra?: (nodes: Node[], inits: Tensor[]) => void } = {}): onnxProto.onnx.IModelProto {
  const inits: Tensor[] = [];
  let seed = 1;
  const weight = (name: string, dims: number[]) => {
    inits.push({ name, dataType: FLOAT, dims, floatData: [...noise(dims.reduce((a, b) => a * b, 1), (seed += 1))] });
    return name;
  };
  const conv = (name: string, input: string, cin: number, cout: number, k: number, dilation = 1): Node => ({
    opType: 'Conv',
    name,
    input: [input, weight(`${name}.w`, [cout, cin, k]), weight(`${name}.b`, [cout])],
    output: [name],
    attribute: [
      { name: 'kernel_shape', type: INTS, ints: [k] },
      { name: 'dilations', type: INTS, ints: [dilation] },
      { name: 'pads', type: INTS, ints: [((k - 1) * dilation) / 2, ((k - 1) * dilation) / 2] },
    ],
  });
  const up = (name: string, input: string, cin: number, cout: number, k: number, stride: number, pad: number): Node => ({
    opType: 'ConvTranspose',
    name,
    input: [input, weight(`${name}.w`, [cin, cout, k]), weight(`${name}.b`, [cout])],
    output: [name],
    attribute: [
      { name: 'kernel_shape', type: INTS, ints: [k] },
      { name: 'strides', type: INTS, ints: [stride] },
      { name: 'pads', type: INTS, ints: [pad, pad] },
    ],
  });
  const act = (name: string, input: string): Node => ({
    opType: 'LeakyRelu',
    name,
    input: [input],
    output: [name],
    attribute: [{ name: 'alpha', type: FLOAT_ATTR, f: 0.1 }],
  });
  const add = (name: string, a: string, b: string): Node => ({ opType: 'Add', name, input: [a, b], output: [name] });
  inits.push({ name: 'two', dataType: FLOAT, dims: [], floatData: [2] });
  const nodes: Node[] = [
    conv('pre', 'x', CIN, 6, 3),
    act('a0', 'pre'),
    up('up0', 'a0', 6, 5, 4, 2, 1),
    act('a1', 'up0'),
    up('up1', 'a1', 5, 3, 8, 4, 2),
    act('r1a', 'up1'),
    conv('r1c1', 'r1a', 3, 3, 5, 3),
    add('r1s1', 'r1c1', 'up1'),
    act('r1b', 'r1s1'),
    conv('r1c2', 'r1b', 3, 3, 3),
    add('r1s2', 'r1c2', 'r1s1'),
    conv('r2c1', 'r1a', 3, 3, 7),
    add('r2s1', 'r2c1', 'up1'),
    add('sum', 'r1s2', 'r2s1'),
    { opType: 'Div', name: 'mean', input: ['sum', 'two'], output: ['mean'] },
    act('a2', 'mean'),
  ];
  options.lastStageExtra?.(nodes, inits);
  const last = nodes.at(-1)?.output?.[0] ?? '';
  nodes.push(conv('post', last, 3, 1, 7), { opType: 'Tanh', name: 'tanh', input: ['post'], output: ['y'] });
  const graph = onnx.GraphProto.create({
    name: 'decoder',
    node: nodes,
    initializer: inits,
    input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: CIN }, { dimParam: 'T' }] } } } }],
    output: [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }],
  });
  return onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ version: 15 }], graph });
}

const bytes = (model: onnxProto.onnx.IModelProto) => onnx.ModelProto.encode(model).finish();
const copy = (model: onnxProto.onnx.IModelProto) => onnx.ModelProto.decode(bytes(model));

async function run(model: onnxProto.onnx.IModelProto, frames: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes(model), { logSeverityLevel: 3 });
  const x = new ort.Tensor('float32', noise(CIN * frames, 3), [1, CIN, frames]);
  const out = (await session.run({ x })).y as ort.Tensor;
  await session.release();
  expect(out.dims).toEqual([1, 1, frames * 8]);
  return out.data as Float32Array;
}

function maxAbsDiff(x: Float32Array, y: Float32Array): number {
  expect(y.length).toBe(x.length);
  let max = 0;
  for (let i = 0; i < x.length; i += 1) max = Math.max(max, Math.abs((x[i] as number) - (y[i] as number)));
  return max;
}

const opTypes = (model: onnxProto.onnx.IModelProto) => (model.graph?.node ?? []).map((n) => n.opType);

describe('windowLastStage (last decoder stage in an ONNX Loop over windows)', () => {
  // Windows of 8 stage-input samples: short inputs fit one, long ones need many, some uneven.
  const windowOutputSamples = 32;

  it('gives the whole-chunk output for one window, several, and a last window cut short', async () => {
    const original = decoder();
    const windowed = copy(original);
    const result = windowLastStage(windowed, { windowOutputSamples });
    expect(result).toMatchObject({ windowed: true, factor: 4 });
    if (!result.windowed) return;
    // Receptive field of the stage in its input's samples: ConvTranspose ceil(5/4)+1 = 3, the
    // dilated branch (6 + 1) / 4, the output Conv 3 / 4 -> 5.5, plus one of margin.
    expect(result.context).toBe(7);
    expect(result.window).toBe(14); // at least twice the context
    expect(opTypes(windowed)).toContain('Loop');
    // The stage's ConvTranspose now runs inside the Loop; the first stage's stays outside.
    expect(opTypes(windowed).filter((op) => op === 'ConvTranspose')).toHaveLength(1);
    // Stage input is 2x the model input: 2 frames -> 4 samples (one window), 40 -> 80 (6 windows).
    for (const frames of [1, 2, 7, 13, 14, 40, 61]) {
      const [want, got] = [await run(original, frames), await run(windowed, frames)];
      expect(maxAbsDiff(got, want), `${frames} frames`).toBeLessThan(1e-6);
    }
  });

  it('needs the context it computes: windows read without it give different samples', async () => {
    const original = decoder();
    const noContext = copy(original);
    expect(windowLastStage(noContext, { windowOutputSamples, context: 0 }).windowed).toBe(true);
    // Traced by hand, a kept sample here reaches 3 input samples back (the computed 7 is a
    // bound with margin): one short of that already changes samples.
    const tooLittle = copy(original);
    expect(windowLastStage(tooLittle, { windowOutputSamples, context: 2 }).windowed).toBe(true);
    const want = await run(original, 40);
    expect(maxAbsDiff(await run(noContext, 40), want)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(await run(tooLittle, 40), want)).toBeGreaterThan(1e-6);
  });

  it('composes with the polyphase rewrite, which reaches into the Loop body', async () => {
    const original = decoder();
    const prepared = copy(original);
    expect(windowLastStage(prepared, { windowOutputSamples }).windowed).toBe(true);
    expect(rewriteModelUpsampling(prepared)).toBe(2);
    const names = new Set((prepared.graph?.initializer ?? []).map((t) => t.name));
    expect(names.has('up1.w')).toBe(false); // replaced inside the body, so dropped
    for (const frames of [3, 40]) {
      expect(maxAbsDiff(await run(prepared, frames), await run(original, frames)), `${frames} frames`).toBeLessThan(1e-5);
    }
  });

  const untouched: [string, (nodes: Node[], inits: Tensor[]) => void][] = [
    [
      'a strided Conv in the stage',
      (nodes, inits) => {
        inits.push({ name: 'sw', dataType: FLOAT, dims: [3, 3, 2], floatData: [...noise(18, 5)] });
        nodes.push({
          opType: 'Conv',
          name: 'strided',
          input: ['a2', 'sw'],
          output: ['strided'],
          attribute: [{ name: 'strides', type: INTS, ints: [2] }],
        });
      },
    ],
    [
      'a constant along time',
      (nodes, inits) => {
        inits.push({ name: 'ramp', dataType: FLOAT, dims: [1, 1, 8], floatData: [...noise(8, 9)] });
        nodes.push({ opType: 'Mul', name: 'ramped', input: ['a2', 'ramp'], output: ['ramped'] });
      },
    ],
    [
      'an op it cannot reason about (ReduceMean over time)',
      (nodes) => {
        nodes.push({ opType: 'ReduceMean', name: 'avg', input: ['a2'], output: ['avg'], attribute: [{ name: 'axes', type: INTS, ints: [2] }] });
      },
    ],
  ];
  for (const [label, extra] of untouched) {
    it(`leaves a stage it cannot window exactly alone: ${label}`, () => {
      const model = decoder({ lastStageExtra: extra });
      const before = bytes(model);
      expect(windowLastStage(model)).toEqual({ windowed: false });
      expect(bytes(model)).toEqual(before);
    });
  }

  it('leaves a stage alone when one of its tensors is read outside it', () => {
    const model = decoder();
    model.graph?.output?.push({ name: 'r1s1', type: { tensorType: { elemType: FLOAT } } });
    expect(windowLastStage(model)).toEqual({ windowed: false });
  });

  it('leaves a model without upsampling alone (the tiny test voice has none)', () => {
    const model = decoder();
    const graph = model.graph as onnxProto.onnx.IGraphProto;
    graph.node = (graph.node ?? []).filter((n) => n.opType !== 'ConvTranspose');
    expect(windowLastStage(model)).toEqual({ windowed: false });
  });
});
