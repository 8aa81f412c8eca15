/**
 * Rewrites a voice's upsampling layers (ONNX ConvTranspose, stride S, kernel K) as the same
 * arithmetic in a form onnxruntime-node 1.30 runs fast: one Conv with S phases of ceil(K/S)
 * taps, the phases interleaved (Reshape, Transpose, Reshape) and the padding sliced off.
 *
 * Why: profiled on the reference machine over the bench sentences, ORT 1.30's ConvTranspose
 * took 1.39 s where ORT 1.31 (the Python reference's) takes 0.46 s; as polyphase Conv the whole
 * model runs ~18% faster in 1.30. Output equals the original graph's within float rounding
 * (tests/unit/polyphase-upsampling.test.ts, tests/integration/polyphase-real-voice.test.ts).
 *
 * Derivation: y[t] = b + sum_ci sum_m x[ci, m] W[ci, co, t + P - S m]. With u = t + P = S q + r
 * and j = u - S m = S d + r, d = q - m in [0, L): z[co S + r, q] = sum_ci sum_d x[ci, q - d]
 * W[ci, co, S d + r] is a Conv with L = ceil(K / S) taps padded L - 1 on both sides, weight
 * V[co S + r, ci, k] = W[ci, co, S (L - 1 - k) + r] (0 past K); interleaving z's phases gives u.
 *
 * Plain JavaScript (types in polyphase-upsampling.d.ts) so the child process that prepares a
 * voice runs it with plain node in every runtime (tsx, vitest, the compiled images).
 */
import onnxProto from 'onnx-proto';
import { attr, explicitPadding, hasExternalWeights, int64Tensor, ints, num, opsetVersion } from './onnx-graph.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64_MAX = '9223372036854775807';

/** @param {import('onnx-proto').onnx.ITensorProto} tensor @returns {Float32Array | undefined} */
function floats(tensor) {
  if (tensor.dataType !== FLOAT) return undefined;
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = tensor.rawData;
    // Copy: rawData is a view into the model's bytes at an arbitrary (unaligned) offset.
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  if (tensor.floatData && tensor.floatData.length > 0) return Float32Array.from(tensor.floatData);
  return undefined;
}

/** @param {string} name @param {Float32Array} values @param {number[]} dims */
function floatTensor(name, values, dims) {
  return { name, dataType: FLOAT, dims, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/**
 * The layer's shape if this rewrite applies to it exactly (1-D, one group, no dilation or
 * output padding, weight and bias stored as float initializers), else undefined.
 * @param {import('onnx-proto').onnx.INodeProto} node
 * @param {Map<string, import('onnx-proto').onnx.ITensorProto>} initializers
 */
function plan(node, initializers) {
  const weight = initializers.get(node.input?.[1] ?? '');
  if (!weight || (weight.dims ?? []).length !== 3) return undefined;
  const [cin, cout, k] = (weight.dims ?? []).map(num);
  const biasName = node.input?.[2];
  const bias = biasName ? initializers.get(biasName) : undefined;
  if (biasName && !bias) return undefined;
  if (!explicitPadding(node)) return undefined;
  if (attr(node, 'output_shape')) return undefined;
  if (num(attr(node, 'group')?.i ?? 1) !== 1) return undefined;
  if (ints(node, 'dilations', [1]).some((d) => d !== 1)) return undefined;
  if (ints(node, 'output_padding', [0]).some((p) => p !== 0)) return undefined;
  const strides = ints(node, 'strides', [1]);
  const pads = ints(node, 'pads', [0, 0]);
  if (strides.length !== 1 || pads.length !== 2) return undefined;
  const w = floats(weight);
  const b = bias ? floats(bias) : new Float32Array(cout ?? 0);
  if (!w || !b || cin === undefined || cout === undefined || k === undefined || b.length !== cout) return undefined;
  if (ints(node, 'kernel_shape', [k])[0] !== k) return undefined;
  return { cin, cout, k, stride: /** @type {number} */ (strides[0]), pads: /** @type {[number, number]} */ (pads), w, b };
}

/**
 * @param {{ cin: number; cout: number; k: number; stride: number; w: Float32Array; b: Float32Array }} p
 */
function polyphaseWeights({ cin, cout, k, stride, w, b }) {
  const taps = Math.ceil(k / stride);
  const v = new Float32Array(cout * stride * cin * taps);
  for (let co = 0; co < cout; co += 1) {
    for (let r = 0; r < stride; r += 1) {
      const o = co * stride + r;
      for (let ci = 0; ci < cin; ci += 1) {
        for (let t = 0; t < taps; t += 1) {
          const j = stride * (taps - 1 - t) + r;
          if (j < k) v[(o * cin + ci) * taps + t] = /** @type {number} */ (w[(ci * cout + co) * k + j]);
        }
      }
    }
  }
  const bias = new Float32Array(cout * stride);
  for (let co = 0; co < cout; co += 1) bias.fill(/** @type {number} */ (b[co]), co * stride, (co + 1) * stride);
  return { taps, v, bias };
}

/**
 * The layers of one node list rewritten (nodes of a Loop body included: the windowed decoder
 * stage runs there), new weights collected in `added`, the old ones' names in `replaced`.
 * @param {import('onnx-proto').onnx.INodeProto[]} list
 * @param {Map<string, import('onnx-proto').onnx.ITensorProto>} initializers
 * @param {import('onnx-proto').onnx.ITensorProto[]} added
 * @param {Set<string>} replaced
 * @returns {{ nodes: import('onnx-proto').onnx.INodeProto[]; rewritten: number }}
 */
function rewriteNodes(list, initializers, added, replaced) {
  /** @type {import('onnx-proto').onnx.INodeProto[]} */
  const nodes = [];
  let rewritten = 0;
  for (const node of list) {
    for (const a of node.attribute ?? []) {
      if (!a.g) continue;
      const inner = rewriteNodes(a.g.node ?? [], initializers, added, replaced);
      a.g.node = inner.nodes;
      rewritten += inner.rewritten;
    }
    const p = node.opType === 'ConvTranspose' && (!node.domain || node.domain === 'ai.onnx') ? plan(node, initializers) : undefined;
    const output = node.output?.[0];
    if (!p || !output || (node.output ?? []).length !== 1) {
      nodes.push(node);
      continue;
    }
    const { taps, v, bias } = polyphaseWeights(p);
    const prefix = `${node.name || output}/polyphase`;
    const name = (/** @type {string} */ part) => `${prefix}/${part}`;
    const { cin, cout, k, stride, pads } = p;
    // Interleaved, the phases hold (M + L - 1) S samples; the layer's output starts at the front
    // padding and ends k - pads[1] - L S samples before that (0: at the very end).
    const endFromBack = k - pads[1] - taps * stride;
    added.push(
      floatTensor(name('weight'), v, [cout * stride, cin, taps]),
      floatTensor(name('bias'), bias, [cout * stride]),
      int64Tensor(name('phases_shape'), [0, cout, stride, -1]),
      int64Tensor(name('interleaved_shape'), [0, cout, -1]),
      int64Tensor(name('starts'), [pads[0]]),
      int64Tensor(name('ends'), [endFromBack === 0 ? INT64_MAX : endFromBack]),
      int64Tensor(name('axes'), [2]),
    );
    nodes.push(
      {
        opType: 'Conv',
        name: name('Conv'),
        input: [node.input?.[0] ?? '', name('weight'), name('bias')],
        output: [name('phases')],
        attribute: [
          { name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [taps] },
          { name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: [taps - 1, taps - 1] },
        ],
      },
      { opType: 'Reshape', name: name('Reshape'), input: [name('phases'), name('phases_shape')], output: [name('by_phase')] },
      {
        opType: 'Transpose',
        name: name('Transpose'),
        input: [name('by_phase')],
        output: [name('by_time')],
        attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 1, 3, 2] }],
      },
      { opType: 'Reshape', name: name('Interleave'), input: [name('by_time'), name('interleaved_shape')], output: [name('interleaved')] },
      { opType: 'Slice', name: name('Slice'), input: [name('interleaved'), name('starts'), name('ends'), name('axes')], output: [output] },
    );
    for (const input of (node.input ?? []).slice(1)) replaced.add(input);
    rewritten += 1;
  }
  return { nodes, rewritten };
}

/** @param {import('onnx-proto').onnx.INodeProto[]} nodes @param {Set<string>} into */
function inputsOf(nodes, into) {
  for (const n of nodes) {
    for (const t of n.input ?? []) into.add(t);
    for (const a of n.attribute ?? []) if (a.g) inputsOf(a.g.node ?? [], into);
  }
  return into;
}

/**
 * Rewrites the model's upsampling layers in place.
 * @param {import('onnx-proto').onnx.IModelProto} model
 * @returns {number} layers rewritten
 */
export function rewriteModelUpsampling(model) {
  const graph = model.graph;
  // Slice with its ranges as inputs needs opset 10.
  if (!graph || opsetVersion(model) < 10 || hasExternalWeights(model)) return 0;
  /** @type {Map<string, import('onnx-proto').onnx.ITensorProto>} */
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  /** @type {import('onnx-proto').onnx.ITensorProto[]} */
  const added = [];
  const replaced = new Set();
  const { nodes, rewritten } = rewriteNodes(graph.node ?? [], initializers, added, replaced);
  if (rewritten === 0) return 0;
  // Drop the old weights unless something else reads them (ORT warns about unused initializers).
  const stillUsed = inputsOf(nodes, new Set());
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name ?? '') || stillUsed.has(t.name ?? '')), ...added];
  graph.node = nodes;
  return rewritten;
}

/**
 * @param {Uint8Array} bytes an ONNX model
 * @returns {{ rewritten: number; bytes?: Uint8Array }} the rewritten model, when any layer was rewritten
 */
export function rewriteUpsampling(bytes) {
  const model = onnx.ModelProto.decode(bytes);
  const rewritten = rewriteModelUpsampling(model);
  return rewritten === 0 ? { rewritten: 0 } : { rewritten, bytes: onnx.ModelProto.encode(model).finish() };
}
