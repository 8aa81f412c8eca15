import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fuseLayerNorms } from '../../workers/tts/engine/layer-norm-fusion.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;
const { INTS } = onnx.AttributeProto.AttributeType;
const C = 8;

const floats = (name: string, values: number[], dims = [values.length]): onnxProto.onnx.ITensorProto => ({ name, dataType: FLOAT, dims, floatData: values });
const lastAxisMean = (name: string, input: string, output: string): onnxProto.onnx.INodeProto => ({
  opType: 'ReduceMean',
  name,
  input: [input],
  output: [output],
  attribute: [{ name: 'axes', type: INTS, ints: [-1] }],
});

/**
 * x [1, T, C] -> Relu -> a layer norm spelled out as torch exports it below opset 17 -> Relu -> y.
 * `leak` gives the centred values a second use, which a fusion must leave alone.
 */
function model({ leak = false } = {}): onnxProto.onnx.IModelProto {
  const node: onnxProto.onnx.INodeProto[] = [
    { opType: 'Relu', name: 'in', input: ['x'], output: ['h'] },
    lastAxisMean('/norm/ReduceMean', 'h', 'mean'),
    { opType: 'Sub', name: '/norm/Sub', input: ['h', 'mean'], output: ['centred'] },
    { opType: 'Pow', name: '/norm/Pow', input: ['centred', 'two'], output: ['squared'] },
    lastAxisMean('/norm/ReduceMean_1', 'squared', 'variance'),
    { opType: 'Add', name: '/norm/Add', input: ['variance', 'eps'], output: ['variance_eps'] },
    { opType: 'Sqrt', name: '/norm/Sqrt', input: ['variance_eps'], output: ['std'] },
    { opType: 'Div', name: '/norm/Div', input: ['centred', 'std'], output: ['normed'] },
    { opType: 'Mul', name: '/norm/Mul', input: ['normed', 'gamma'], output: ['scaled'] },
    { opType: 'Add', name: '/norm/Add_1', input: ['scaled', 'beta'], output: ['shifted'] },
    { opType: 'Relu', name: 'out', input: ['shifted'], output: ['y'] },
  ];
  const outputs = ['y'];
  if (leak) {
    node.push({ opType: 'Neg', name: 'leak', input: ['centred'], output: ['z'] });
    outputs.push('z');
  }
  const shape = { dim: [{ dimValue: 1 }, { dimParam: 'T' }, { dimValue: C }] };
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 15 }],
    graph: {
      name: 'layer_norm',
      node,
      initializer: [
        floats('two', [2], []),
        floats('eps', [1e-5], []),
        floats('gamma', Array.from({ length: C }, (_, i) => 0.5 + i / C)),
        floats('beta', Array.from({ length: C }, (_, i) => (i - C / 2) / C)),
      ],
      input: [{ name: 'x', type: { tensorType: { elemType: FLOAT, shape } } }],
      output: outputs.map((name) => ({ name, type: { tensorType: { elemType: FLOAT, shape } } })),
    },
  };
}

async function run(m: onnxProto.onnx.IModelProto, x: Float32Array, t: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(onnx.ModelProto.fromObject(m)).finish());
  const out = await session.run({ x: new ort.Tensor('float32', x, [1, t, C]) });
  await session.release();
  return out.y!.data as Float32Array;
}

describe('layer norm fusion (prepared voices)', () => {
  it('turns the nine-op layer norm into one LayerNormalization with the same output', async () => {
    const original = model();
    const fused = model();
    expect(fuseLayerNorms(fused)).toBe(1);
    expect(fused.graph?.node?.map((n) => n.opType)).toEqual(['Relu', 'LayerNormalization', 'Relu']);
    const norm = fused.graph?.node?.[1];
    expect(norm?.input).toEqual(['h', 'gamma', 'beta']);
    expect(norm?.attribute?.find((a) => a.name === 'epsilon')?.f).toBeCloseTo(1e-5, 10);
    // The exponent and epsilon constants are gone with the ops that read them.
    expect(fused.graph?.initializer?.map((t) => t.name)).toEqual(['gamma', 'beta']);
    for (const t of [1, 7, 50]) {
      const x = Float32Array.from({ length: t * C }, (_, i) => Math.sin(i * 0.37) * 3 + (i % C));
      const [want, got] = await Promise.all([run(original, x, t), run(fused, x, t)]);
      expect(got.length).toBe(want.length);
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
      expect(diff).toBeLessThan(1e-5);
      expect(Math.max(...want)).toBeGreaterThan(0.5); // not a degenerate all-zero comparison
    }
  });

  it('leaves the pattern alone when one of its intermediate values is used elsewhere', () => {
    const m = model({ leak: true });
    const before = m.graph?.node?.length;
    expect(fuseLayerNorms(m)).toBe(0);
    expect(m.graph?.node?.length).toBe(before);
  });

  it('leaves a mean over another axis alone', () => {
    const m = model();
    for (const n of m.graph?.node ?? []) if (n.opType === 'ReduceMean') n.attribute = [{ name: 'axes', type: INTS, ints: [1] }];
    expect(fuseLayerNorms(m)).toBe(0);
  });
});
