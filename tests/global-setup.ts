import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { writeTestVoice } from '../workers/tts/voices/test-voice.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Voices root holding `piper/en_US-test-tiny/` (built once per run); pass it to loadVoicepack. */
    testVoicesDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'duplex-test-voices-'));
  writeTestVoice(dir);
  project.provide('testVoicesDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
