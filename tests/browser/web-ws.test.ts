/**
 * The browser client over the WebSocket transport (the embedded default, no LiveKit), end to end:
 * Debian's Chromium driven by playwright-core, the page built by Vite and served by a real
 * orchestrator, a real TTS worker with the real voice, and a fake microphone playing a WAV of
 * real speech (espeak-ng). Everything is asserted in the page: audio through an AnalyserNode,
 * the playback worklet's own counts, and the time of the last audible sample.
 *
 * Chromium loops the microphone file (1.5 s of silence, then a spoken sentence). The page starts
 * with its microphone gate closed (`?mic=gated`, silence goes out) and the test opens it in
 * `oneshot` mode while the voice is speaking: exactly one sentence of speech passes.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DuplexHooks } from '../../clients/web/src/shared/hook-types.js';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { TEST_VOICE_ID, writeTestVoice } from '../../workers/tts/voices/test-voice.js';
import { speechKit, type SpeechKit } from '../fixtures/vad-signals.js';
import { artifactPath, buildWebClient, collectPageErrors, launchChromium, requireChromium } from '../support/browser.js';
import { ChatPages, httpBase, round, writeMicWav } from '../support/chat-page.js';
import { REAL_VOICE, requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';

/** The page's globals, for the functions `page.evaluate` runs in the page. */
declare const window: { __duplex: DuplexHooks };

/**
 * BARGED_IN reaching the page → end of the last audible sample it rendered. The page holds its
 * output on the next render quantum (2.7 ms); the rest is the page's main thread on a busy machine.
 */
const SILENCE_BAR_MS = 60;
const LONG_TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles, laughing all the way.';
const SHORT_TEXT = 'Hello there, how are you doing today?';

interface Figures {
  fal_ms: number[];
  fal_audible_ms: number[];
  silent_after_ms: number[];
  silent_after_vad_ms: number[];
  held_ms: number[];
  output_latency_ms: number[];
}
const figures: Figures = { fal_ms: [], fal_audible_ms: [], silent_after_ms: [], silent_after_vad_ms: [], held_ms: [], output_latency_ms: [] };

describe('browser client over WebSocket (real Chromium, orchestrator, worker and voice)', () => {
  let worker: WorkerHarness;
  let stopOrch: RunningOrchestrator;
  let resumeOrch: RunningOrchestrator;
  let browser: Browser;
  let pages: ChatPages;
  let speech: SpeechKit;
  let voices: string;

  beforeAll(async () => {
    requireRealVoice();
    requireChromium();
    speech = speechKit();
    const mic = writeMicWav(speech);
    // The real voice (linked) and the test voice, so the page's voice picker has two to offer.
    voices = mkdtempSync(join(tmpdir(), 'web-ws-voices-'));
    const real = join(voicepacksDir(), 'piper', REAL_VOICE);
    mkdirSync(join(voices, 'piper', REAL_VOICE), { recursive: true });
    for (const f of readdirSync(real)) symlinkSync(join(real, f), join(voices, 'piper', REAL_VOICE, f));
    writeTestVoice(voices);
    const [dist, w] = await Promise.all([buildWebClient(), startTestWorker({ voicepacksDir: voices, defaultModel: REAL_VOICE })]);
    worker = w;
    const addr = [`grpc://${worker.target}`];
    stopOrch = await startTestOrchestrator(addr, { bargeInPolicy: 'stop', webDir: dist });
    resumeOrch = await startTestOrchestrator(addr, { bargeInPolicy: 'resume', webDir: dist });
    browser = await launchChromium(mic);
    pages = new ChatPages(await browser.newContext({ viewport: { width: 1280, height: 860 } }));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stopOrch?.shutdown();
    await resumeOrch?.shutdown();
    await worker?.stop();
    speech?.dispose();
    if (voices) rmSync(voices, { recursive: true, force: true });
    writeFileSync(artifactPath('web-ws-figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`[web-ws] ${JSON.stringify(figures)}`);
  });

  const waitInPage = (page: Page, fn: () => unknown, what: string, timeout?: number) => pages.waitInPage(page, fn, what, { timeout });
  const openChat = (o: RunningOrchestrator) => pages.open(o, 'websocket');
  const say = (page: Page, text: string) => pages.say(page, text);

  /** Speaks through the fake microphone once, 0.8 s into the reply, and waits for the hold. */
  async function bargeIn(page: Page) {
    const b = await pages.bargeIn(page, 800);
    figures.silent_after_ms.push(round(b.silentAfterMs!));
    if (b.silentAfterVadMs !== undefined) figures.silent_after_vad_ms.push(round(b.silentAfterVadMs));
    figures.output_latency_ms.push(round(b.outputLatencyMs ?? 0));
    figures.held_ms.push(round(b.heldMs ?? 0));
    return b;
  }

  it('speaks typed text: audio arrives in the page, is audible through the analyser, and lasts as long as it should', async () => {
    const page = await openChat(stopOrch);
    await say(page, SHORT_TEXT);
    // Audible while it plays, measured by the page's AnalyserNode.
    await waitInPage(page, () => window.__duplex.analyserLevel() > -40, 'audible output at the analyser');
    await waitInPage(
      page,
      () => window.__duplex.texts[0]?.doneAt !== undefined && window.__duplex.state === 'LISTENING' && window.__duplex.audioStats()?.buffered === 0,
      'the utterance to finish and play out',
      30_000,
    );
    const stats = (await page.evaluate(() => window.__duplex.freshAudioStats()))!;
    const text = await page.evaluate(() => window.__duplex.texts[0]!);
    const peak = await page.evaluate(() => window.__duplex.peakLevel);
    figures.fal_ms.push(round(text.firstFrameAt! - text.sentAt));
    figures.fal_audible_ms.push(round(text.firstAudibleAt! - text.sentAt));

    expect(text.firstFrameAt! - text.sentAt).toBeLessThan(2000);
    expect(text.firstAudibleAt!).toBeGreaterThanOrEqual(text.firstFrameAt!);
    expect(peak).toBeGreaterThan(-30);
    // Every frame received was played, none dropped; 960 samples per 20 ms frame.
    expect(stats.receivedSamples).toBe(text.frames * 960);
    expect(stats.playedSamples).toBe(stats.receivedSamples);
    expect(stats.droppedSamples).toBe(0);
    // Seven words of speech: a plausible duration, mostly audible.
    const seconds = stats.playedSamples / 48_000;
    expect(seconds).toBeGreaterThan(1.2);
    expect(seconds).toBeLessThan(5);
    expect(stats.audibleSamples / stats.playedSamples).toBeGreaterThan(0.4);
    expect(stats.underruns).toBeLessThanOrEqual(3);
    await expect.poll(() => page.locator('#history li.user .meta').textContent()).toMatch(/✓ spoken, \d\.\d s · first audio \d+ ms/);
    await page.close();
  });

  it("the voice picker lists the workers' voices with the session's own selected, switches the next reply, and shows the kept voice when one is refused", async () => {
    const page = await openChat(stopOrch);
    const picker = page.locator('#voice');
    await expect.poll(() => picker.locator('option').allTextContents()).toEqual([`${REAL_VOICE} (en_US)`, `${TEST_VOICE_ID} (en_US)`]);
    expect(await picker.inputValue()).toBe(REAL_VOICE);
    expect(await picker.isEnabled()).toBe(true);

    await picker.selectOption(TEST_VOICE_ID);
    // The server's answer to the list asked for after the switch names the new voice.
    await page.waitForFunction(
      (id) => window.__duplex.events.some((e) => e.type === 'voices' && (e as unknown as { current: string }).current === id),
      TEST_VOICE_ID,
      { timeout: 30_000, polling: 10 },
    );
    expect(await picker.inputValue()).toBe(TEST_VOICE_ID);
    await say(page, 'Hello.');
    await waitInPage(page, () => window.__duplex.texts[0]?.doneAt !== undefined && window.__duplex.texts[0].frames > 0, 'the reply in the test voice');

    // A voice the workers do not have (as a stale page would offer): refused, and the picker goes
    // back to the voice the session kept.
    await page.evaluate(`{
      const select = document.getElementById('voice');
      select.add(new Option('xx_XX-nobody-medium', 'xx_XX-nobody-medium'));
      select.value = 'xx_XX-nobody-medium';
      select.dispatchEvent(new Event('change'));
    }`);
    await expect.poll(() => page.locator('#history li.error').last().textContent()).toContain('unknown_voice: voice "xx_XX-nobody-medium" is not available');
    await expect.poll(() => picker.inputValue()).toBe(TEST_VOICE_ID);
    expect(await picker.locator('option').count()).toBe(2);
    await page.close();
  });

  it('barge-in with the stop policy: the page is silent at once, then STOP; the live view follows it on the diagram', async () => {
    const live = await pages.context.newPage();
    pages.opened.push(live);
    const liveErrors = collectPageErrors(live);
    await live.goto(`${httpBase(stopOrch)}/live.html`);
    await live.waitForSelector('#hub[data-status="connected"]');

    const page = await openChat(stopOrch);
    const sessionId = await page.evaluate(() => window.__duplex.sessionId);
    await say(page, LONG_TEXT);
    // The live view lists this session and highlights SPEAKING (playing) as it happens.
    await live.waitForSelector('svg .node.current[data-state="SPEAKING.playing"]', { timeout: 30_000 });
    await expect.poll(() => live.locator('#sessions li.session.selected .name').getAttribute('title')).toContain(sessionId);

    const b = await bargeIn(page);
    expect(b.vadAt).not.toBeNull();
    expect(b.at - (b.vadAt as number)).toBeLessThan(50);
    expect(b.silentAfterMs!).toBeLessThanOrEqual(SILENCE_BAR_MS);
    // The analyser (a second, independent witness) saw nothing audible after the hold either.
    await waitInPage(page, () => window.__duplex.states.some((s) => s.state === 'LISTENING' && s.at > window.__duplex.bargeIns[0]!.at), 'LISTENING after the barge-in');
    const after = await page.evaluate(async () => ({ stats: await window.__duplex.freshAudioStats(), analyserLast: window.__duplex.analyserLastAudibleAt, b: window.__duplex.bargeIns[0]! }));
    expect(after.b.then).toBe('LISTENING');
    expect(after.analyserLast ?? 0).toBeLessThanOrEqual(b.at + SILENCE_BAR_MS);
    // Nothing was played after the hold; what was buffered is dropped by the STOP. Counted in
    // samples: the worklet's times map to page time through the render clock, which a loaded
    // headless Chromium stalls (a stall made audio from before the hold look 0.5 s later).
    expect(b.audibleSamplesAtHold).toBeGreaterThan(0);
    expect(after.stats!.audibleSamples).toBe(b.audibleSamplesAtHold);
    expect(after.stats!.buffered).toBe(0);
    await expect.poll(() => page.locator('#history li.user .meta').textContent()).toMatch(/■ stopped after/);

    // The live view showed the barge-in as the transition taken, and logs the events.
    await live.waitForSelector('svg .node.current[data-state="LISTENING"]', { timeout: 10_000 });
    await expect.poll(() => live.locator('#log tbody').textContent()).toContain('VAD.SPEECH_START');
    await expect.poll(() => live.locator('#log tbody').textContent()).toContain('→ BARGED_IN');
    await expect.poll(() => live.locator('#log tbody').textContent()).toContain('VAD.SPEECH_END');

    // A second utterance, caught mid-speech for the screenshot of a highlighted live session.
    await say(page, LONG_TEXT);
    await live.waitForSelector('svg .node.current[data-state="SPEAKING.playing"]', { timeout: 30_000 });
    await live.waitForSelector('svg .edge.taken[data-events~="TEXT"]');
    await live.screenshot({ path: artifactPath('live-view.png'), fullPage: true });
    await waitInPage(page, () => window.__duplex.analyserLevel() > -40, 'audible output at the analyser');
    await page.screenshot({ path: artifactPath('chat-page.png') });
    // The page's own STOP: silent at once, and nothing of the stopped reply is heard after it,
    // not even frames the server sent before the STOP reached it (counted in samples, as above).
    const atStop = await page.evaluate(async () => {
      window.__duplex.control('STOP');
      // The first report of the hold in effect: one already on its way may predate it.
      for (let i = 0; i < 20; i += 1) {
        const stats = (await window.__duplex.freshAudioStats())!;
        if (stats.holding) return stats.audibleSamples;
      }
      return -1; // never held
    });
    expect(atStop, 'the output held at the STOP').toBeGreaterThan(0);
    await live.waitForSelector('svg .node.current[data-state="LISTENING"]', { timeout: 10_000 });
    await waitInPage(page, () => window.__duplex.state === 'LISTENING', 'LISTENING after the STOP');
    const afterStop = await page.evaluate(async () => (await window.__duplex.freshAudioStats())!);
    expect(afterStop.audibleSamples).toBe(atStop);
    expect(afterStop.buffered).toBe(0);
    // Held until the next reply starts: what is still in flight can never play.
    expect(afterStop.holding).toBe(true);

    // The chat page closes: the session ends in the live view.
    await page.close();
    await live.waitForSelector('#sessions li.session.ended', { timeout: 15_000 });
    expect(liveErrors).toEqual([]);
    await live.close();
  });

  it('barge-in with the resume policy: held at once, then resumed at the exact sample (nothing dropped)', async () => {
    const page = await openChat(resumeOrch);
    await say(page, LONG_TEXT);
    const b = await bargeIn(page);
    expect(b.silentAfterMs!).toBeLessThanOrEqual(SILENCE_BAR_MS);
    await waitInPage(page, () => window.__duplex.bargeIns[0]?.then === 'SPEAKING', 'the resume after the barge-in');
    await waitInPage(
      page,
      () => window.__duplex.texts[0]?.doneAt !== undefined && window.__duplex.state === 'LISTENING' && window.__duplex.audioStats()?.buffered === 0,
      'the utterance to finish and play out',
      60_000,
    );
    const stats = (await page.evaluate(() => window.__duplex.freshAudioStats()))!;
    // Audible again after the resume, and every sample received was played: the hold kept them.
    expect(stats.lastAudibleAt!).toBeGreaterThan(b.at + 500);
    expect(stats.droppedSamples).toBe(0);
    expect(stats.playedSamples).toBe(stats.receivedSamples);
    expect(await page.evaluate(() => window.__duplex.states.map((s) => s.state).join(' '))).toMatch(/SPEAKING BARGED_IN SPEAKING LISTENING$/);
    await expect.poll(() => page.locator('#history').textContent()).toContain('Resumed where it paused.');
    await page.close();
  });

  it('Pause, Resume and Stop: each button is enabled only where it means something and does it; texts sent while a reply plays are queued, spoken in turn, or dropped by a stop', async () => {
    const page = await openChat(resumeOrch);
    const enabled = async () => {
      const out: string[] = [];
      for (const name of ['Pause', 'Resume', 'Stop']) if (await page.getByRole('button', { name, exact: true }).isEnabled()) out.push(name);
      return out;
    };
    const button = (name: string) => page.getByRole('button', { name, exact: true });
    const state = () => page.evaluate(() => window.__duplex.state);
    const metas = () => page.locator('#history li.user .meta').allTextContents();
    expect(await enabled()).toEqual([]); // LISTENING: nothing to control

    // Two texts: the second is sent while the first plays, so the server queues it.
    await say(page, SHORT_TEXT);
    await waitInPage(page, () => window.__duplex.analyserLevel() > -40, 'audible output at the analyser');
    await expect.poll(enabled).toEqual(['Pause', 'Stop']);
    await say(page, 'And then this one.');
    await expect.poll(metas).toEqual([expect.stringMatching(/^▶ speaking… · first audio \d+ ms$/), 'queued']);
    await button('Pause').click();
    await expect.poll(state).toBe('PAUSED');
    await expect.poll(enabled).toEqual(['Resume', 'Stop']);
    await button('Resume').click();
    await expect.poll(state).toBe('SPEAKING');
    await expect.poll(enabled).toEqual(['Pause', 'Stop']);
    // Each is spoken in turn, and each keeps its own audio: the queued one shows no latency (its
    // wait for the first reply is none).
    await expect.poll(metas, { timeout: 30_000 }).toEqual([expect.stringMatching(/^✓ spoken, \d\.\d s · first audio \d+ ms$/), expect.stringMatching(/^✓ spoken, \d\.\d s$/)]);
    await expect.poll(enabled).toEqual([]);

    // A stop ends the reply playing and drops the text queued behind it.
    await say(page, LONG_TEXT);
    await waitInPage(page, () => window.__duplex.texts[2]?.firstFrameAt !== undefined, 'the third reply');
    await say(page, 'Never spoken.');
    await button('Stop').click();
    await expect.poll(state).toBe('LISTENING');
    await expect.poll(enabled).toEqual([]);
    await expect.poll(async () => (await metas()).slice(2)).toEqual([expect.stringMatching(/^■ stopped after \d\.\d s · first audio \d+ ms$/), '■ stopped before it was spoken']);
    await page.close();
  });

  it('the pages logged no errors (a missing /api/client-config aside)', () => {
    // A page left open means a test above failed before closing it: look there first.
    expect(pages.opened.filter((p) => !p.isClosed()).map((p) => p.url()), 'pages a failed test left open').toEqual([]);
    expect(pages.errors.filter((e) => !e.includes('/api/client-config'))).toEqual([]);
  });
});

