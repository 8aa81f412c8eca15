import type { onnx } from 'onnx-proto';
/** Fuses spelled-out layer norms into `LayerNormalization` (in place); returns how many. See layer-norm-fusion.js. */
export declare function fuseLayerNorms(model: onnx.IModelProto): number;
