import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { addEdgeFrameCaps, EDGE_FRAMES_INPUT } from '../../workers/tts/engine/chunk-joins.js';
import { joinEdgeFrames } from '../../workers/tts/engine/piper-model.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;
const INF = Number.POSITIVE_INFINITY;

/**
 * Piper's duration tail in miniature: w [1, 1, T] -> Ceil -> durations, used twice as in VITS
 * (the output length and the alignment): `total` = ReduceSum, `durations` = the capped vector
 * itself through Identity. `ceils` > 1 adds a second Ceil the rewrite must not guess between.
 */
function model(ceils = 1): onnxProto.onnx.IModelProto {
  const shape = { dim: [{ dimValue: 1 }, { dimValue: 1 }, { dimParam: 'T' }] };
  const node: onnxProto.onnx.INodeProto[] = [
    { opType: 'Ceil', name: '/Ceil', input: ['w'], output: ['w_ceil'] },
    { opType: 'ReduceSum', name: '/ReduceSum', input: ['w_ceil'], output: ['total'] },
    { opType: 'Identity', name: '/Identity', input: ['w_ceil'], output: ['durations'] },
  ];
  if (ceils > 1) node.push({ opType: 'Ceil', name: '/Ceil_1', input: ['w'], output: ['other'] });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 15 }],
    graph: {
      name: 'durations',
      node,
      input: [{ name: 'w', type: { tensorType: { elemType: FLOAT, shape } } }],
      output: [
        { name: 'total', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 1 }, { dimValue: 1 }] } } } },
        { name: 'durations', type: { tensorType: { elemType: FLOAT, shape } } },
        ...(ceils > 1 ? [{ name: 'other', type: { tensorType: { elemType: FLOAT, shape } } }] : []),
      ],
    },
  };
}

async function run(m: onnxProto.onnx.IModelProto, w: number[], caps?: number[]): Promise<{ total: number; durations: number[] }> {
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(m).finish());
  try {
    const feeds: Record<string, ort.Tensor> = { w: new ort.Tensor('float32', Float32Array.from(w), [1, 1, w.length]) };
    if (caps) feeds[EDGE_FRAMES_INPUT] = new ort.Tensor('float32', Float32Array.from(caps), [4]);
    const out = await session.run(feeds);
    return { total: (out.total?.data as Float32Array)[0] as number, durations: [...(out.durations?.data as Float32Array)] };
  } finally {
    await session.release();
  }
}

describe('addEdgeFrameCaps', () => {
  const w = [3.2, 1.5, 2.1, 0.4, 4.7, 2.2, 9.1];

  it('caps the first two and last two durations after Ceil, for both of their uses', async () => {
    const m = model();
    expect(addEdgeFrameCaps(m)).toBe(true);
    expect(m.graph?.input?.map((i) => i.name)).toEqual(['w', EDGE_FRAMES_INPUT]);
    const capped = await run(m, w, [1, 2, 2, 1]);
    expect(capped.durations).toEqual([1, 2, 3, 1, 5, 2, 1]);
    expect(capped.total).toBe(15);
    // Each position takes its own cap; the ids between are never capped, however low the caps.
    expect((await run(m, w, [0, 0, 0, 0])).durations).toEqual([0, 0, 3, 1, 5, 0, 0]);
    expect((await run(m, w, [INF, 1, 1, INF])).durations).toEqual([4, 1, 3, 1, 5, 1, 10]);
  });

  it('leaves the durations as they were with no caps (+Infinity)', async () => {
    const plain = await run(model(), w);
    const m = model();
    addEdgeFrameCaps(m);
    expect(await run(m, w, [INF, INF, INF, INF])).toEqual(plain);
    expect(plain.durations).toEqual([4, 2, 3, 1, 5, 3, 10]);
  });

  it('caps the shortest input Piper can give (^ _ phoneme _ $) position by position', async () => {
    const m = model();
    addEdgeFrameCaps(m);
    expect((await run(m, [5, 5, 5, 5, 5], [1, 2, 3, 4])).durations).toEqual([1, 2, 5, 3, 4]);
  });

  it('changes nothing in a graph with no Ceil, two of them, or the input already there', () => {
    const none = model();
    none.graph!.node = none.graph!.node!.filter((n) => n.opType !== 'Ceil');
    const two = model(2);
    const again = model();
    addEdgeFrameCaps(again);
    for (const m of [none, two, again]) {
      const before = onnx.ModelProto.encode(m).finish();
      expect(addEdgeFrameCaps(m)).toBe(false);
      expect(onnx.ModelProto.encode(m).finish()).toEqual(before);
    }
  });
});

describe('joinEdgeFrames', () => {
  it('caps only the joined sides, scaled by the length scale and never below one frame', () => {
    expect(joinEdgeFrames({ previous: false, next: false }, 1)).toEqual([INF, INF, INF, INF]);
    expect(joinEdgeFrames({ previous: true, next: false }, 1)).toEqual([1, 2, INF, INF]);
    expect(joinEdgeFrames({ previous: false, next: true }, 1)).toEqual([INF, INF, 2, 1]);
    expect(joinEdgeFrames({ previous: true, next: true }, 1.5)).toEqual([2, 3, 3, 2]);
    expect(joinEdgeFrames({ previous: true, next: true }, 0.3)).toEqual([1, 1, 1, 1]);
  });
});
