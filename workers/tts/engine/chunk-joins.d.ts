import type { onnx } from 'onnx-proto';
/** Name of the input that caps the durations of a model's first two and last two ids. */
export declare const EDGE_FRAMES_INPUT: 'edge_frames';
/** Adds the `edge_frames` input (in place); false when the model has no place for it. See chunk-joins.js. */
export declare function addEdgeFrameCaps(model: onnx.IModelProto): boolean;
