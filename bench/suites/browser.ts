/**
 * The browser client measured in the browser (Debian's Chromium, the built page, a real
 * orchestrator and worker with the real voice; `tests/support/browser.ts`):
 * `--suite browser` over the WebSocket transport, `--suite webrtc` over LiveKit (a local LiveKit
 * server, `tests/helpers/livekit-server.ts`). Each trial types a long sentence, waits for 1.2 s
 * of audio, then lets one spoken sentence through the page's fake microphone (policy `stop`).
 * Reported, all measured in the page:
 * - `fal_ms`: text sent → first audio frame received (WebSocket) / first audible output at the
 *   page's analyser (LiveKit, where frames are not visible to the page);
 * - `fal_audible_ms` (WebSocket): text sent → first audible sample rendered;
 * - `barge_in_ms`: the `vad` speech edge reaching the page → the end of the last audible sample
 *   the page played (`silent_after_state_ms`: from the BARGED_IN message instead);
 * - `onset_to_silence_ms` (WebSocket): speech passing the page's microphone gate → that end;
 * - `held_ms`: audio the page had buffered and did not play; `output_latency_ms` the device's.
 */
import { join } from 'node:path';
import { writeWavFile } from '../../clients/cli/wav.js';
import type { DuplexHooks } from '../../clients/web/src/shared/hook-types.js';
import { startLiveKitServer } from '../../tests/helpers/livekit-server.js';
import { concat, msToSamples, speechKit, toBytes } from '../../tests/fixtures/vad-signals.js';
import { buildWebClient, launchChromium } from '../../tests/support/browser.js';
import { startTestOrchestrator, testLiveKitSettings } from '../../tests/support/orchestrator-stack.js';
import { startTestWorker } from '../../tests/support/worker-harness.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { round, summary } from '../stats.js';

declare const window: { __duplex: DuplexHooks };

const TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles, laughing all the way.';

export async function browserSuite(opts: { trials: number; voice?: string; transport: 'websocket' | 'livekit' }): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const speech = speechKit();
  const mic = join(speech.dir, 'mic.wav');
  writeWavFile(mic, [toBytes(concat(msToSamples(1500), speech.speak('Wait, stop, I have a question.'), msToSamples(500)))], 16_000);
  const [dist, worker, livekit] = await Promise.all([
    buildWebClient(),
    startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: voice.id }),
    opts.transport === 'livekit' ? startLiveKitServer() : Promise.resolve(undefined),
  ]);
  const orch = await startTestOrchestrator([`grpc://${worker.target}`], {
    voice: voice.id,
    bargeInPolicy: 'stop',
    webDir: dist,
    ...(livekit && { livekit: testLiveKitSettings(livekit) }),
  });
  const browser = await launchChromium(mic);
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(orch.http.server.address() as { port: number }).port}/?mic=gated`);
    await page.click('#start');
    await page.waitForFunction(() => window.__duplex.connection === 'connected' && window.__duplex.state === 'LISTENING', null, { timeout: 60_000 });
    const mode = await page.evaluate(() => window.__duplex.mode);
    if (mode !== opts.transport) throw new Error(`the page chose ${mode}, expected ${opts.transport}`);
    let missed = 0;
    for (let i = 0; i < opts.trials; i += 1) {
      await page.evaluate(() => window.__duplex.mic.gate('closed'));
      await page.evaluate((t) => window.__duplex.send(t), TEXT);
      // 1.2 s into the reply (the analyser's first audible output in LiveKit mode).
      await page.waitForFunction(
        (n) => {
          const t = window.__duplex.texts[n];
          return t !== undefined && (t.frames >= 60 || (t.firstAudibleAt !== undefined && performance.now() - t.firstAudibleAt > 1200));
        },
        i,
        { timeout: 60_000, polling: 10 },
      );
      await page.evaluate(() => window.__duplex.mic.gate('oneshot'));
      try {
        await page.waitForFunction((n) => window.__duplex.bargeIns[n]?.silentAfterMs !== undefined, i - missed, { timeout: 20_000 });
      } catch {
        missed += 1; // the reply ended before the speech reached the VAD
      }
      await page.waitForFunction(() => window.__duplex.state === 'LISTENING' && window.__duplex.mic.mode() !== 'oneshot', null, { timeout: 60_000 });
    }
    const r = await page.evaluate(() => {
      const d = window.__duplex;
      return {
        texts: d.texts.map((t) => ({ sentAt: t.sentAt, firstFrameAt: t.firstFrameAt, firstAudibleAt: t.firstAudibleAt })),
        bargeIns: d.bargeIns,
        underruns: d.audioStats()?.underruns ?? 0,
      };
    });
    const fal = r.texts.map((t) => (opts.transport === 'websocket' ? (t.firstFrameAt ?? Number.NaN) : (t.firstAudibleAt ?? Number.NaN)) - t.sentAt).filter(Number.isFinite);
    const falAudible = r.texts.map((t) => (t.firstAudibleAt ?? Number.NaN) - t.sentAt).filter(Number.isFinite);
    const b = r.bargeIns;
    const fromVad = b.map((x) => x.silentAfterVadMs).filter((x): x is number => x !== undefined);
    const onset = b.filter((x) => x.onsetAt !== null && x.lastAudibleAt !== undefined).map((x) => Math.max(0, (x.lastAudibleAt ?? 0) - (x.onsetAt as number)));
    return {
      suite: opts.transport === 'websocket' ? 'browser' : 'webrtc',
      transport: opts.transport,
      voice: voice.id,
      trials: opts.trials,
      fal_ms: summary(fal),
      ...(opts.transport === 'websocket' && { fal_audible_ms: summary(falAudible) }),
      barge_in_ms: summary(fromVad),
      silent_after_state_ms: summary(b.map((x) => x.silentAfterMs ?? Number.NaN).filter(Number.isFinite)),
      ...(opts.transport === 'websocket' && { onset_to_silence_ms: summary(onset), held_ms: summary(b.map((x) => x.heldMs ?? 0)) }),
      output_latency_ms: round(b[0]?.outputLatencyMs ?? Number.NaN, 1),
      barge_ins: b.length,
      missed,
      underruns: r.underruns,
    };
  } finally {
    await browser.close();
    await orch.shutdown();
    await worker.stop();
    await livekit?.stop();
    speech.dispose();
  }
}
