/**
 * Runs a voice's last decoder stage (its last upsampling layer through the final Conv) in an
 * ONNX Loop over windows of the stage's input, each window read with enough context on both
 * sides that the samples it keeps equal those of running the stage on the whole chunk.
 *
 * Why: the last stage works at the output rate (HiFi-GAN: 32 channels at 22.05 kHz for a medium
 * voice, ~2.8 MB per tensor per second of audio), so its activations set the engine's peak
 * memory, and onnxruntime's arena keeps whatever the longest chunk grew it to. In windows of
 * ~0.74 s the stage's tensors stay small whatever the chunk length. Measured on the reference
 * machine with the medium voice: bare session peak 226-246 -> 196-198 MB, engine 301-309 ->
 * 269-273 MB, worker bench 349 -> 310 MB; inference time level (alternating runs; the context is
 * 16 input samples against windows of 4096). One session, so one thread pool: splitting the
 * decoder into sessions of its own cost far more (README, "Front and decoder").
 *
 * Exactness: every op in the stage is a stride-1 "same" Conv, the upsampling ConvTranspose or
 * elementwise, so an output sample depends only on inputs within the stage's receptive field,
 * worked out here from the layers' kernels, dilations and padding. Windows that start or end at
 * the chunk's edge see the same zero padding as the whole chunk. Padding added to the last,
 * shorter window is applied to its output and cut away, never fed through a layer.
 *
 * Plain JavaScript (types in windowed-decoder.d.ts) so the child process that prepares a voice
 * runs it with plain node in every runtime.
 */
import onnxProto from 'onnx-proto';
import { attr, explicitPadding, int64Tensor, ints, num, opsetVersion } from './onnx-graph.js';

const { onnx } = onnxProto;
const { INT64, FLOAT, BOOL } = onnx.TensorProto.DataType;
const { INTS, GRAPH, TENSOR } = onnx.AttributeProto.AttributeType;

/** Output samples per window: ~0.74 s at 22.05 kHz. */
const DEFAULT_WINDOW_OUTPUT_SAMPLES = 16_384;

const UNARY = new Set(['LeakyRelu', 'Relu', 'Tanh', 'Sigmoid', 'Identity', 'Neg', 'Abs']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);

/** @param {import('onnx-proto').onnx.ITensorProto | undefined} t */
const elements = (t) => (t?.dims ?? []).reduce((/** @type {number} */ n, d) => n * num(d), 1);

/**
 * How far (in the stage input's samples) each output sample of a 1-D layer reaches, and the
 * layer's upsampling factor; undefined for a layer this rewrite cannot reason about exactly.
 * @param {import('onnx-proto').onnx.INodeProto} node
 * @param {Map<string, import('onnx-proto').onnx.ITensorProto>} initializers
 * @returns {{ reach: number; factor: number } | undefined} reach in the layer's input samples
 */
function convReach(node, initializers) {
  const weight = initializers.get(node.input?.[1] ?? '');
  if (!weight || (weight.dims ?? []).length !== 3) return undefined;
  if (!explicitPadding(node)) return undefined;
  const k = num(weight.dims?.[2]);
  if (ints(node, 'kernel_shape', [k])[0] !== k) return undefined;
  const [dilation = 1] = ints(node, 'dilations', [1]);
  const [stride = 1] = ints(node, 'strides', [1]);
  const [left = 0, right = 0] = ints(node, 'pads', [0, 0]);
  if (node.opType === 'Conv') {
    // Stride 1 and "same" padding: output length = input length, sample t reads [t - left, t - left + span].
    const span = (k - 1) * dilation;
    if (stride !== 1 || left + right !== span) return undefined;
    return { reach: Math.max(left, span - left), factor: 1 };
  }
  // ConvTranspose: output u reads inputs m with 0 <= u + left - stride m <= k - 1; its length
  // must be exactly stride x the input's.
  if (dilation !== 1 || ints(node, 'output_padding', [0]).some((p) => p !== 0) || attr(node, 'output_shape')) return undefined;
  if (num(attr(node, 'group')?.i ?? 1) !== 1 || k - left - right !== stride) return undefined;
  return { reach: Math.ceil(Math.max(left, k - 1 - left) / stride) + 1, factor: stride };
}

/**
 * The stage to window: from the input of the graph's last ConvTranspose to the output of its
 * last Conv, with every node in between, its receptive field and its upsampling factor.
 * @param {import('onnx-proto').onnx.IGraphProto} graph
 */
function findStage(graph) {
  const nodes = graph.node ?? [];
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const constants = new Map();
  for (const n of nodes) if (n.opType === 'Constant') constants.set(n.output?.[0] ?? '', attr(n, 'value')?.t);
  const upIndex = nodes.findLastIndex((n) => n.opType === 'ConvTranspose');
  const endIndex = nodes.findLastIndex((n) => n.opType === 'Conv');
  if (upIndex < 0 || endIndex <= upIndex) return undefined;
  const input = nodes[upIndex]?.input?.[0];
  const output = nodes[endIndex]?.output?.[0];
  if (!input || !output) return undefined;

  // Nodes downstream of the input and upstream of the output.
  const downstream = new Set([input]);
  const after = new Set();
  for (const [i, n] of nodes.entries()) {
    if ((n.input ?? []).some((t) => downstream.has(t))) {
      after.add(i);
      for (const t of n.output ?? []) downstream.add(t);
    }
  }
  const upstream = new Set([output]);
  const stage = new Set();
  for (let i = nodes.length - 1; i >= 0; i -= 1) {
    const n = /** @type {import('onnx-proto').onnx.INodeProto} */ (nodes[i]);
    if (after.has(i) && (n.output ?? []).some((t) => upstream.has(t))) {
      stage.add(i);
      for (const t of n.input ?? []) upstream.add(t);
    }
  }

  // Receptive field: per tensor, its rate relative to the stage input and how far (in stage
  // input samples) its samples reach. Any op outside Conv / ConvTranspose / elementwise, or a
  // tensor leaving the stage before its end, and the stage is left alone.
  /** @type {Map<string, { rate: number; reach: number }>} */
  const field = new Map([[input, { rate: 1, reach: 0 }]]);
  for (const i of [...stage].sort((a, b) => a - b)) {
    const n = /** @type {import('onnx-proto').onnx.INodeProto} */ (nodes[i]);
    if (n.domain && n.domain !== 'ai.onnx') return undefined;
    const outputs = n.output ?? [];
    if (outputs.length !== 1) return undefined;
    const inputs = (n.input ?? []).filter((t) => t !== '');
    const live = inputs.filter((t) => field.has(t));
    // Other inputs must be weights or constants; a binary op's constant must be a single value
    // (a constant along time would differ per window).
    for (const t of inputs) {
      if (field.has(t)) continue;
      const c = initializers.get(t) ?? constants.get(t);
      if (!c) return undefined;
      if (BINARY.has(n.opType ?? '') && elements(c) !== 1) return undefined;
    }
    let result;
    if (n.opType === 'Conv' || n.opType === 'ConvTranspose') {
      const r = convReach(n, initializers);
      const from = field.get(inputs[0] ?? '');
      if (!r || !from || live.length !== 1) return undefined;
      result = { rate: from.rate * r.factor, reach: from.reach + r.reach / from.rate };
    } else if (UNARY.has(n.opType ?? '') || BINARY.has(n.opType ?? '')) {
      const from = live.map((t) => /** @type {{ rate: number; reach: number }} */ (field.get(t)));
      if (from.length === 0 || from.some((f) => f.rate !== from[0]?.rate)) return undefined;
      result = { rate: from[0]?.rate ?? 1, reach: Math.max(...from.map((f) => f.reach)) };
    } else {
      return undefined;
    }
    field.set(outputs[0] ?? '', result);
  }
  const inner = (/** @type {string | null | undefined} */ t) => t !== input && t !== output && field.has(t ?? '');
  // Nothing made inside the stage but its output may be read outside it.
  for (const [i, n] of nodes.entries()) {
    if (stage.has(i)) continue;
    if ((n.input ?? []).some(inner)) return undefined;
    for (const a of n.attribute ?? []) if (a.g) return undefined; // subgraphs: not followed here
  }
  if ((graph.output ?? []).some((o) => inner(o.name))) return undefined;
  const end = field.get(output);
  const last = nodes[endIndex];
  const channels = num(initializers.get(last?.input?.[1] ?? '')?.dims?.[0]);
  if (!end || !Number.isInteger(end.rate) || !(channels > 0)) return undefined;
  return { stage, input, output, factor: end.rate, reach: end.reach, channels, lastIndex: endIndex };
}

/**
 * @param {string} name @param {string} op @param {string[]} input @param {string} output
 * @param {import('onnx-proto').onnx.IAttributeProto[]} [attribute]
 * @returns {import('onnx-proto').onnx.INodeProto}
 */
const node = (name, op, input, output, attribute = []) => ({ name, opType: op, input, output: [output], attribute });

/** @param {string} name @param {number[]} values @returns {import('onnx-proto').onnx.INodeProto} */
const constant = (name, values) => node(name, 'Constant', [], name, [{ name: 'value', type: TENSOR, t: int64Tensor(name, values) }]);

/**
 * Rewrites the model in place when its last decoder stage can be windowed exactly.
 * @param {import('onnx-proto').onnx.IModelProto} model
 * @param {{ windowOutputSamples?: number; context?: number }} [options] `context` overrides the
 *   computed one (tests use it to show the receptive field matters)
 * @returns {{ windowed: false } | { windowed: true; window: number; context: number; factor: number }}
 */
export function windowLastStage(model, options = {}) {
  const graph = model.graph;
  // Slice and Pad with their ranges as inputs need opset 11.
  if (!graph || opsetVersion(model) < 11) return { windowed: false };
  const found = findStage(graph);
  if (!found) return { windowed: false };
  const { stage, input, output, factor, reach, channels, lastIndex } = found;
  // One sample of margin over the receptive field; windows hold at least twice the context.
  const context = options.context ?? Math.ceil(reach) + 1;
  const window = Math.max(Math.ceil((options.windowOutputSamples ?? DEFAULT_WINDOW_OUTPUT_SAMPLES) / factor), 2 * context, 1);
  const p = (/** @type {string} */ part) => `${output}/windowed/${part}`;
  const nodes = graph.node ?? [];
  const stageNodes = nodes.filter((_, i) => stage.has(i));
  // Inside the body every tensor the stage makes gets a name of its own: a subgraph must not
  // redefine a name of the graph around it (the stage's output is made again outside).
  const inner = p('x');
  /** @type {Map<string, string>} */
  const names = new Map([[input, inner]]);
  for (const n of stageNodes) for (const t of n.output ?? []) names.set(t, `${t}/in_window`);
  const rename = (/** @type {string} */ t) => names.get(t) ?? t;
  const renamed = stageNodes.map((n) => ({ ...n, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) }));
  const stageOut = rename(output);

  // Body: window i keeps input samples [i W, min((i + 1) W, T)) and reads C more on each side.
  const body = onnx.GraphProto.create({
    name: 'decoder_window',
    node: [
      constant(p('W'), [window]),
      constant(p('C'), [context]),
      constant(p('R'), [factor]),
      constant(p('zero'), [0]),
      constant(p('axis'), [2]),
      constant(p('one'), [1]),
      node(p('Iter'), 'Reshape', [p('iter'), p('one')], p('i')),
      node(p('Start'), 'Mul', [p('i'), p('W')], p('start')),
      node(p('End'), 'Add', [p('start'), p('W')], p('end')),
      node(p('KeepEnd'), 'Min', [p('end'), p('T')], p('keep_end')),
      node(p('ReadFrom0'), 'Sub', [p('start'), p('C')], p('read_from0')),
      node(p('ReadFrom'), 'Max', [p('read_from0'), p('zero')], p('read_from')),
      node(p('ReadTo0'), 'Add', [p('end'), p('C')], p('read_to0')),
      node(p('ReadTo'), 'Min', [p('read_to0'), p('T')], p('read_to')),
      node(p('Read'), 'Slice', [input, p('read_from'), p('read_to'), p('axis')], inner),
      ...renamed,
      node(p('Lead'), 'Sub', [p('start'), p('read_from')], p('lead')),
      node(p('KeepFrom'), 'Mul', [p('lead'), p('R')], p('keep_from')),
      node(p('Kept0'), 'Sub', [p('keep_end'), p('read_from')], p('kept0')),
      node(p('KeepTo'), 'Mul', [p('kept0'), p('R')], p('keep_to')),
      node(p('Keep'), 'Slice', [stageOut, p('keep_from'), p('keep_to'), p('axis')], p('kept')),
      // Scan outputs must share a shape: the last window's output is padded to W R, cut below.
      node(p('Short'), 'Sub', [p('end'), p('keep_end')], p('short')),
      node(p('PadLen'), 'Mul', [p('short'), p('R')], p('pad_len')),
      node(p('Pads'), 'Concat', [p('zero'), p('zero'), p('zero'), p('zero'), p('zero'), p('pad_len')], p('pads'), [
        { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 },
      ]),
      node(p('Pad'), 'Pad', [p('kept'), p('pads')], p('window_out')),
      node(p('Cond'), 'Identity', [p('cond')], p('cond_out')),
    ],
    input: [
      { name: p('iter'), type: { tensorType: { elemType: INT64, shape: { dim: [] } } } },
      { name: p('cond'), type: { tensorType: { elemType: BOOL, shape: { dim: [] } } } },
    ],
    output: [
      { name: p('cond_out'), type: { tensorType: { elemType: BOOL, shape: { dim: [] } } } },
      { name: p('window_out'), type: { tensorType: { elemType: FLOAT } } },
    ],
  });

  // Outer: T = input length, N = ceil(T / W) windows; the stacked [N, B, C, W R] windows are
  // laid end to end along time and cut to T R.
  const outer = [
    node(p('Shape'), 'Shape', [input], p('shape')),
    constant(p('time_axis'), [2]),
    node(p('Length'), 'Gather', [p('shape'), p('time_axis')], p('T')),
    constant(p('W_minus_1'), [window - 1]),
    constant(p('W_outer'), [window]),
    node(p('Ceil0'), 'Add', [p('T'), p('W_minus_1')], p('ceil0')),
    node(p('Count1'), 'Div', [p('ceil0'), p('W_outer')], p('count1')),
    constant(p('scalar'), []),
    node(p('Count'), 'Reshape', [p('count1'), p('scalar')], p('count')),
    { name: p('True'), opType: 'Constant', input: [], output: [p('true')], attribute: [{ name: 'value', type: TENSOR, t: { name: p('true'), dataType: BOOL, dims: [], int32Data: [1] } }] },
    { name: p('Loop'), opType: 'Loop', input: [p('count'), p('true')], output: [p('windows')], attribute: [{ name: 'body', type: GRAPH, g: body }] },
    node(p('ByTime'), 'Transpose', [p('windows')], p('by_time'), [{ name: 'perm', type: INTS, ints: [1, 2, 0, 3] }]),
    constant(p('joined_shape'), [0, channels, -1]),
    node(p('Join'), 'Reshape', [p('by_time'), p('joined_shape')], p('joined')),
    constant(p('R_outer'), [factor]),
    node(p('OutLength'), 'Mul', [p('T'), p('R_outer')], p('out_length')),
    constant(p('zero_outer'), [0]),
    node(p('Cut'), 'Slice', [p('joined'), p('zero_outer'), p('out_length'), p('time_axis')], output),
  ];
  // In the stage's place, at its last node: everything the body reads from outside (the stage
  // input, weights, Constant nodes) is made before that point.
  const rewritten = [];
  for (const [i, n] of nodes.entries()) {
    if (i === lastIndex) rewritten.push(...outer);
    else if (!stage.has(i)) rewritten.push(n);
  }
  graph.node = rewritten;
  return { windowed: true, window, context, factor };
}
