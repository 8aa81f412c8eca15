/**
 * Replaces each layer norm that a voice's export spelled out in nine elementwise ops
 * (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta over the last
 * axis, as torch exports F.layer_norm below opset 17) by one `LayerNormalization` node.
 *
 * Why: onnxruntime's own fusion of this pattern does not fire on Piper's exports (the optimised
 * graph keeps all of them: 36 in a medium voice's text encoder and duration predictor), and each
 * of the nine ops is a kernel launch and a pass over the activations on every run.
 * onnxruntime runs `LayerNormalization` in the default domain at any opset (its pre-17 contrib
 * registration), which is what its own fusion emits.
 *
 * Plain JavaScript (types in layer-norm-fusion.d.ts) so the child process that prepares a voice
 * runs it with plain node.
 */
import onnxProto from 'onnx-proto';
import { attr, ints, num } from './onnx-graph.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;

/** @param {import('onnx-proto').onnx.ITensorProto | undefined} t @returns {number | undefined} */
function scalar(t) {
  if (!t || t.dataType !== FLOAT || (t.dims ?? []).reduce((n, d) => n * num(d), 1) !== 1) return undefined;
  if (t.floatData && t.floatData.length === 1) return t.floatData[0];
  if (t.rawData && t.rawData.length === 4) return new DataView(t.rawData.buffer, t.rawData.byteOffset, 4).getFloat32(0, true);
  return undefined;
}

/** @param {import('onnx-proto').onnx.INodeProto} node */
const reducesLastAxis = (node) => {
  const axes = ints(node, 'axes', []);
  const keepdims = attr(node, 'keepdims');
  return node.opType === 'ReduceMean' && axes.length === 1 && axes[0] === -1 && (keepdims === undefined || num(keepdims.i) === 1);
};

/**
 * Fuses the pattern in place; returns how many layer norms were fused.
 * @param {import('onnx-proto').onnx.IModelProto} model
 */
export function fuseLayerNorms(model) {
  const graph = model.graph;
  if (!graph?.node) return 0;
  const nodes = graph.node;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  /** @type {Map<string, import('onnx-proto').onnx.INodeProto[]>} */
  const consumers = new Map();
  for (const n of nodes) {
    for (const i of n.input ?? []) {
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
  }
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));
  /** The single consumer of `node`'s only output, if it has exactly one and is not a graph output. */
  const only = (/** @type {import('onnx-proto').onnx.INodeProto} */ node) => {
    const out = node.output?.[0] ?? '';
    const c = consumers.get(out) ?? [];
    return c.length === 1 && !graphOutputs.has(out) ? c[0] : undefined;
  };
  const other = (/** @type {import('onnx-proto').onnx.INodeProto} */ node, /** @type {string} */ input) => (node.input?.[0] === input ? node.input?.[1] : node.input?.[0]);

  /** @type {Set<import('onnx-proto').onnx.INodeProto>} */
  const removed = new Set();
  /** @type {Set<string>} */
  const constants = new Set();
  /** @type {Map<import('onnx-proto').onnx.INodeProto, import('onnx-proto').onnx.INodeProto>} */
  const replacement = new Map();
  for (const mean of nodes) {
    if (!reducesLastAxis(mean)) continue;
    const x = mean.input?.[0] ?? '';
    const sub = only(mean);
    if (!sub || sub.opType !== 'Sub' || sub.input?.[0] !== x || sub.input?.[1] !== mean.output?.[0]) continue;
    const subUsers = consumers.get(sub.output?.[0] ?? '') ?? [];
    const pow = subUsers.find((n) => n.opType === 'Pow');
    const div = subUsers.find((n) => n.opType === 'Div');
    if (subUsers.length !== 2 || !pow || !div || pow.input?.[0] !== sub.output?.[0] || div.input?.[0] !== sub.output?.[0]) continue;
    if (scalar(inits.get(pow.input?.[1] ?? '')) !== 2) continue;
    const variance = only(pow);
    if (!variance || !reducesLastAxis(variance)) continue;
    const addEps = only(variance);
    if (!addEps || addEps.opType !== 'Add') continue;
    const epsilon = scalar(inits.get(other(addEps, variance.output?.[0] ?? '') ?? ''));
    if (epsilon === undefined) continue;
    const sqrt = only(addEps);
    if (!sqrt || sqrt.opType !== 'Sqrt' || div.input?.[1] !== sqrt.output?.[0]) continue;
    const mul = only(div);
    if (!mul || mul.opType !== 'Mul') continue;
    const gamma = inits.get(other(mul, div.output?.[0] ?? '') ?? '');
    const add = only(mul);
    if (!add || add.opType !== 'Add') continue;
    const beta = inits.get(other(add, mul.output?.[0] ?? '') ?? '');
    if (!gamma || !beta || (gamma.dims ?? []).length !== 1 || (beta.dims ?? []).length !== 1 || num(gamma.dims?.[0]) !== num(beta.dims?.[0])) continue;
    const group = [mean, sub, pow, variance, addEps, sqrt, div, mul, add];
    if (group.some((n) => removed.has(n))) continue;
    for (const n of group) removed.add(n);
    constants.add(pow.input?.[1] ?? '');
    constants.add(other(addEps, variance.output?.[0] ?? '') ?? '');
    replacement.set(add, {
      name: `${mean.name ?? 'layer_norm'}/LayerNormalization`,
      opType: 'LayerNormalization',
      domain: '',
      input: [x, gamma.name ?? '', beta.name ?? ''],
      output: [add.output?.[0] ?? ''],
      attribute: [
        { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
        { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: epsilon },
      ],
    });
  }
  if (replacement.size === 0) return 0;
  // The fused node takes the last op's place, where all of the pattern's inputs exist.
  graph.node = nodes.flatMap((n) => (replacement.has(n) ? [/** @type {import('onnx-proto').onnx.INodeProto} */ (replacement.get(n))] : removed.has(n) ? [] : [n]));
  // The exponents and epsilons now live in attributes; onnxruntime warns about each constant left
  // unused. Loop bodies may read outer initializers, so their inputs count as uses.
  const used = new Set();
  const collect = (/** @type {import('onnx-proto').onnx.IGraphProto} */ g) => {
    for (const n of g.node ?? []) {
      for (const i of n.input ?? []) used.add(i);
      for (const a of n.attribute ?? []) if (a.g) collect(a.g);
    }
    for (const o of g.output ?? []) used.add(o.name);
  };
  collect(graph);
  graph.initializer = (graph.initializer ?? []).filter((t) => !constants.has(t.name ?? '') || used.has(t.name ?? ''));
  return replacement.size;
}
