/**
 * Gives a voice's model an input, `edge_frames` (float [4]), that caps the durations the model
 * predicts for its first two and last two ids — Piper's `^ _` and `_ $` — in frames (+Infinity:
 * no cap). The streaming engine sets caps where one of its chunks joins the next inside a
 * sentence.
 *
 * Why: each chunk is synthesized as a sentence of its own, so the model closes it with a
 * sentence's trailing silence and opens the next with a sentence's onset. Measured with
 * en_US-joe-medium on the bench sentences (noise off): `$` got 4-12 frames and `^` up to 32
 * (370 ms before the vowel of "opens") where the whole sentence spends 1-4 frames on the word
 * boundary, so every join left a 140-590 ms gap in the middle of a phrase, and the streamed
 * audio ran 12% longer than Piper's. Capping them in the model rather than trimming the audio
 * also saves the flow and decoder the frames that would be thrown away.
 *
 * The caps apply to the durations after `Ceil` (frames, length scale included), before they set
 * the output length and the alignment, so the rest of the graph is untouched.
 *
 * Plain JavaScript (types in chunk-joins.d.ts) so the child process that prepares a voice runs
 * it with plain node.
 */
import onnxProto from 'onnx-proto';
import { int64Tensor } from './onnx-graph.js';

const { onnx } = onnxProto;
const { FLOAT } = onnx.TensorProto.DataType;

export const EDGE_FRAMES_INPUT = 'edge_frames';

/**
 * Adds the `edge_frames` input in place; returns false (model unchanged) when the graph has no
 * single `Ceil` giving the durations, or already has the input.
 * @param {import('onnx-proto').onnx.IModelProto} model
 */
export function addEdgeFrameCaps(model) {
  const graph = model.graph;
  if (!graph?.node) return false;
  if ((graph.input ?? []).some((i) => i.name === EDGE_FRAMES_INPUT)) return false;
  const ceils = graph.node.filter((n) => n.opType === 'Ceil');
  if (ceils.length !== 1) return false;
  const ceil = /** @type {import('onnx-proto').onnx.INodeProto} */ (ceils[0]);
  const durations = ceil.output?.[0];
  if (!durations || (graph.output ?? []).some((o) => o.name === durations)) return false;

  const p = '/edge_frames/';
  const capped = `${p}capped`;
  for (const n of graph.node) {
    if (n === ceil) continue;
    n.input = (n.input ?? []).map((i) => (i === durations ? capped : i));
  }
  // Caps by position: [cap0, cap1, +Inf, cap2, cap3] gathered at
  // pos < 2 ? pos : 4 - min(T - 1 - pos, 2), so ids 0 and 1 take the first two caps, the last
  // two ids the last two, and every id between takes +Inf (its duration unchanged).
  graph.initializer = [
    ...(graph.initializer ?? []),
    { name: `${p}inf`, dataType: FLOAT, dims: [1], floatData: [Number.POSITIVE_INFINITY] },
    int64Tensor(`${p}zero_1d`, [0]),
    int64Tensor(`${p}two_1d`, [2]),
    int64Tensor(`${p}four_1d`, [4]),
    { ...int64Tensor(`${p}zero`, [0]), dims: [] },
    { ...int64Tensor(`${p}one`, [1]), dims: [] },
    { ...int64Tensor(`${p}two`, [2]), dims: [] },
    { ...int64Tensor(`${p}four`, [4]), dims: [] },
  ];
  const axis0 = [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }];
  /** @param {string} opType @param {string[]} input @param {string} out @param {import('onnx-proto').onnx.IAttributeProto[]} attribute */
  const node = (opType, input, out, attribute = []) => ({
    opType,
    name: `${p}${out}`,
    input,
    output: [`${p}${out}`],
    attribute,
  });
  const at = graph.node.indexOf(ceil) + 1;
  graph.node.splice(
    at,
    0,
    node('Shape', [durations], 'shape'),
    // A scalar index gives the scalar length Range wants.
    node('Gather', [`${p}shape`, `${p}two`], 't', axis0),
    node('Range', [`${p}zero`, `${p}t`, `${p}one`], 'pos'),
    node('Sub', [`${p}t`, `${p}one`], 'last'),
    node('Sub', [`${p}last`, `${p}pos`], 'from_end'),
    node('Min', [`${p}from_end`, `${p}two`], 'from_end_2'),
    node('Sub', [`${p}four`, `${p}from_end_2`], 'tail_index'),
    node('Less', [`${p}pos`, `${p}two`], 'is_head'),
    node('Where', [`${p}is_head`, `${p}pos`, `${p}tail_index`], 'index'),
    node('Slice', [EDGE_FRAMES_INPUT, `${p}zero_1d`, `${p}two_1d`], 'head_caps'),
    node('Slice', [EDGE_FRAMES_INPUT, `${p}two_1d`, `${p}four_1d`], 'tail_caps'),
    node('Concat', [`${p}head_caps`, `${p}inf`, `${p}tail_caps`], 'table', axis0),
    node('Gather', [`${p}table`, `${p}index`], 'caps', axis0),
    { opType: 'Min', name: capped, input: [durations, `${p}caps`], output: [capped], attribute: [] },
  );
  graph.input = [
    ...(graph.input ?? []),
    { name: EDGE_FRAMES_INPUT, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimValue: 4 }] } } } },
  ];
  return true;
}
