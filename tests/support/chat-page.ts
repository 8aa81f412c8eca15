/**
 * Driving the chat page (clients/web) in Chromium for the browser tests, whichever transport the
 * page uses: open it on an orchestrator and start voice chat, type, wait on what the page
 * measures (`window.__duplex`), let one spoken sentence through its fake microphone. Kept apart
 * from browser.ts because it uses vitest's `expect` and the bench imports browser.ts.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { writeWavFile } from '../../clients/cli/wav.js';
import type { BargeInRecord, DuplexHooks } from '../../clients/web/src/shared/hook-types.js';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { concat, msToSamples, toBytes, type SpeechKit } from '../fixtures/vad-signals.js';
import { collectPageErrors } from './browser.js';

/** The page's globals, for the functions `page.evaluate` runs in the page. */
declare const window: { __duplex: DuplexHooks };

/**
 * The fake microphone's file: 1.5 s of silence, then a spoken sentence, then 0.5 s of silence
 * (Chromium loops it). The page starts with its gate closed (`?mic=gated`) and a test opens it in
 * `oneshot` mode while the voice is speaking: exactly one sentence of speech passes.
 */
export function writeMicWav(speech: SpeechKit): string {
  const mic = join(speech.dir, 'mic.wav');
  writeWavFile(mic, [toBytes(concat(msToSamples(1500), speech.speak('Wait, stop, I have a question.'), msToSamples(500)))], 16_000);
  return mic;
}

export const httpBase = (o: RunningOrchestrator): string => `http://127.0.0.1:${(o.http.server.address() as { port: number }).port}`;

/** Chat pages opened in one browser context, with what they logged. */
export class ChatPages {
  readonly opened: Page[] = [];
  /** Console errors and warnings of the pages closed so far. */
  readonly errors: string[] = [];

  constructor(readonly context: BrowserContext) {}

  /** A new page, tracked: closed pages hand their errors to `errors`. */
  async newPage(): Promise<Page> {
    const page = await this.context.newPage();
    this.opened.push(page);
    const pageErrors = collectPageErrors(page);
    page.on('close', () => this.errors.push(...pageErrors));
    return page;
  }

  /** page.waitForFunction (with a number for `fn`) that, on timeout, says what the page was doing. */
  async waitInPage(page: Page, fn: (arg: number) => unknown, what: string, opts: { arg?: number; timeout?: number } = {}): Promise<void> {
    try {
      await page.waitForFunction(fn, opts.arg ?? 0, { timeout: opts.timeout ?? 30_000, polling: 10 });
    } catch (err) {
      const seen = await page
        .evaluate(() => {
          const d = window.__duplex;
          return JSON.stringify({ connection: d.connection, state: d.state, error: d.error, frames: d.framesReceived, events: d.events.slice(-8) });
        })
        .catch((e: unknown) => String(e));
      throw new Error(`timed out waiting for ${what}: ${seen}; page errors: ${JSON.stringify(this.errors)}`, { cause: err });
    }
  }

  /** Opens the chat page, clicks "Start voice chat" and waits for the session to listen. */
  async open(o: RunningOrchestrator, mode: 'websocket' | 'livekit'): Promise<Page> {
    const page = await this.newPage();
    // The page learns the (ephemeral) WebSocket port from GET /api/client-config; an orchestrator
    // without that endpoint gets it on the URL instead (the page's override).
    const viaConfig = (await fetch(`${httpBase(o)}/api/client-config`)).status === 200;
    await page.goto(`${httpBase(o)}/?mic=gated${viaConfig ? '' : `&ws=${encodeURIComponent(`ws://127.0.0.1:${o.ws.port}/`)}`}`);
    await page.click('#start');
    await this.waitInPage(page, () => window.__duplex.connection === 'connected' && window.__duplex.state === 'LISTENING', 'the session to connect and listen', {
      timeout: 60_000,
    });
    expect(await page.evaluate(() => window.__duplex.mode)).toBe(mode);
    await expect.poll(() => page.locator('#state').textContent()).toBe('LISTENING');
    return page;
  }

  async say(page: Page, text: string): Promise<void> {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
  }

  /**
   * Once `afterAudioMs` of the last text's audio came (frames received over WebSocket; since the
   * first audible output at the analyser over LiveKit, where the page sees no frames), speaks
   * through the fake microphone once and waits for the hold to be measured.
   */
  async bargeIn(page: Page, afterAudioMs: number): Promise<BargeInRecord> {
    const n = await page.evaluate(() => window.__duplex.bargeIns.length);
    await this.waitInPage(
      page,
      (ms) => {
        const t = window.__duplex.texts[window.__duplex.texts.length - 1];
        const enough = t !== undefined && (t.frames * 20 >= ms || (t.firstAudibleAt !== undefined && performance.now() - t.firstAudibleAt >= ms));
        // And audible right now: speech opened into a pause (a sentence gap, or a stall of the
        // track on a loaded host) would find the voice already silent, which proves nothing.
        return enough && window.__duplex.analyserLevel() > -40;
      },
      `${afterAudioMs} ms of audio, and the voice audible`,
      { arg: afterAudioMs },
    );
    await page.evaluate(() => window.__duplex.mic.gate('oneshot'));
    await this.waitInPage(page, (i) => window.__duplex.bargeIns[i]?.silentAfterMs !== undefined, 'BARGED_IN from the microphone speech', { arg: n });
    return page.evaluate((i) => window.__duplex.bargeIns[i]!, n);
  }
}

export function round(x: number): number {
  return Math.round(x * 10) / 10;
}
