/**
 * Small readers and builders for ONNX graphs (onnx-proto objects), shared by the rewrites that
 * prepare a voice (polyphase-upsampling.js, windowed-decoder.js, prepare-model-process.js).
 * Plain JavaScript so the child process that prepares a voice runs them with plain node.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** @param {unknown} v */
export const num = (v) => Number(v);

/** @param {import('onnx-proto').onnx.INodeProto} node @param {string} key */
export function attr(node, key) {
  return (node.attribute ?? []).find((a) => a.name === key);
}

/** @param {import('onnx-proto').onnx.INodeProto} node @param {string} key @param {number[]} fallback */
export function ints(node, key, fallback) {
  const a = attr(node, key);
  return a ? (a.ints ?? []).map(num) : fallback;
}

/** Padding given by `pads` (auto_pad absent or NOTSET), which the rewrites can reason about. @param {import('onnx-proto').onnx.INodeProto} node */
export function explicitPadding(node) {
  const autoPad = attr(node, 'auto_pad')?.s;
  return !autoPad || autoPad.length === 0 || new TextDecoder().decode(autoPad) === 'NOTSET';
}

/** @param {string} name @param {(number | string)[]} values */
export function int64Tensor(name, values) {
  return { name, dataType: onnx.TensorProto.DataType.INT64, dims: [values.length], int64Data: values };
}

/** The model's default-domain opset version (0 if it declares none). @param {import('onnx-proto').onnx.IModelProto} model */
export function opsetVersion(model) {
  return num((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
}

/**
 * Weights kept in a side file are found relative to the model: a copy written elsewhere would
 * lose them, so such a model is left as it is.
 * @param {import('onnx-proto').onnx.IModelProto} model
 */
export function hasExternalWeights(model) {
  return (model.graph?.initializer ?? []).some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
}
