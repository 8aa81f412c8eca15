import type { onnx } from 'onnx-proto';
/** Rewrites ConvTranspose upsampling as polyphase Conv (same output); see polyphase-upsampling.js. */
export declare function rewriteUpsampling(bytes: Uint8Array): { rewritten: number; bytes?: Uint8Array };
/** The same, on a decoded model (in place, Loop bodies included); returns the layers rewritten. */
export declare function rewriteModelUpsampling(model: onnx.IModelProto): number;
