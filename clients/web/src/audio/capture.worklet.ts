/**
 * Microphone processor (AudioWorklet, render thread).
 *
 * - Passes the microphone through a gate to its output (LiveKit mode publishes that output).
 * - When sending is on (WebSocket mode) it resamples the gated signal to 16 kHz s16le and posts
 *   20 ms frames (640 bytes) to the page, which sends them as binary WebSocket frames.
 * - The gate: `open` (normal use), `closed` (silence out, the VAD keeps its timeline), or
 *   `oneshot`: wait for a quiet moment, let exactly one stretch of speech through, close after
 *   it. Tests use `oneshot` with a looping fake microphone so one spoken sentence arrives when
 *   the test wants it; the onset time of that speech is reported.
 */
import { Downsampler, floatToS16 } from './resample.js';
import { scope } from './worklet-scope.js';

type GateMode = 'open' | 'closed' | 'oneshot';
type OneShotPhase = 'arming' | 'waiting' | 'speech';

const FRAME = 320; // 20 ms at 16 kHz
const SPEECH_RMS = 0.01; // −40 dBFS: a block this loud is speech for the gate
const QUIET_RMS = 0.003;
const ARM_QUIET_S = 0.15;
const END_QUIET_S = 0.7;

class CaptureProcessor extends scope.AudioWorkletProcessor {
  private mode: GateMode = 'open';
  private phase: OneShotPhase = 'arming';
  private quietS = 0;
  private sending = false;
  private readonly down = new Downsampler(scope.sampleRate, 16_000);
  private frame = new Int16Array(FRAME);
  private fill = 0;
  private readonly silence = new Float32Array(128);

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<{ type: string; mode?: GateMode; on?: boolean }>) => {
      const m = e.data;
      if (m.type === 'gate' && m.mode) this.setMode(m.mode);
      else if (m.type === 'send') this.sending = m.on === true;
    };
  }

  private setMode(mode: GateMode): void {
    this.mode = mode;
    this.phase = 'arming';
    this.quietS = 0;
    this.port.postMessage({ type: 'gate', mode, at: scope.currentTime });
  }

  /** Whether this block passes, updating the one-shot gate from the raw input's level. */
  private passes(input: Float32Array | undefined): boolean {
    if (this.mode === 'open') return true;
    if (this.mode === 'closed' || !input) return false;
    let sum = 0;
    for (let i = 0; i < input.length; i += 1) sum += (input[i] as number) ** 2;
    const rms = Math.sqrt(sum / input.length);
    const blockS = input.length / scope.sampleRate;
    const quiet = rms < QUIET_RMS;
    this.quietS = quiet ? this.quietS + blockS : 0;
    if (this.phase === 'arming') {
      if (this.quietS < ARM_QUIET_S) return false;
      this.phase = 'waiting';
      this.port.postMessage({ type: 'gate', mode: 'oneshot', phase: 'waiting', at: scope.currentTime });
      return true;
    }
    if (this.phase === 'waiting') {
      if (rms >= SPEECH_RMS) {
        this.phase = 'speech';
        this.port.postMessage({ type: 'onset', at: scope.currentTime, now: scope.currentTime });
      }
      return true;
    }
    if (this.quietS >= END_QUIET_S) {
      this.mode = 'closed';
      this.port.postMessage({ type: 'gate', mode: 'closed', at: scope.currentTime });
      return false;
    }
    return true;
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const input = inputs[0]?.[0];
    const output = outputs[0]?.[0];
    const pass = this.passes(input);
    if (output) {
      if (pass && input) output.set(input.subarray(0, output.length));
      else output.fill(0);
    }
    if (this.sending) {
      const block = pass && input ? input : this.silence;
      const pcm = floatToS16(this.down.push(block));
      for (let i = 0; i < pcm.length; i += 1) {
        this.frame[this.fill] = pcm[i] as number;
        this.fill += 1;
        if (this.fill === FRAME) {
          this.port.postMessage({ type: 'frame', pcm: this.frame.buffer }, [this.frame.buffer]);
          this.frame = new Int16Array(FRAME);
          this.fill = 0;
        }
      }
    }
    return true;
  }
}

scope.registerProcessor('duplex-capture', CaptureProcessor);
