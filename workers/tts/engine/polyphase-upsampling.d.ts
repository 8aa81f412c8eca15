/** Rewrites ConvTranspose upsampling as polyphase Conv (same output); see polyphase-upsampling.js. */
export declare function rewriteUpsampling(bytes: Uint8Array): { rewritten: number; bytes?: Uint8Array };
