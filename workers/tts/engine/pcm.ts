/** Float samples to s16 with clipping (no wrap-around on overs). */
export function floatToS16(input: Float32Array, gain = 1): Int16Array {
  const out = new Int16Array(input.length);
  for (let i = 0; i < input.length; i += 1) {
    const v = (input[i] as number) * gain * 32767;
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v);
  }
  return out;
}

export function s16ToFloat(input: Int16Array): Float32Array {
  const out = new Float32Array(input.length);
  for (let i = 0; i < input.length; i += 1) out[i] = (input[i] as number) / 32768;
  return out;
}
