import { TEST_VOICE_ID, writeTestVoice } from '../workers/tts/voices/test-voice.js';
import { voicepacksDir } from '../workers/tts/voices/voicepack.js';
import { parseCommandLine, usageError } from './command-line.js';

const USAGE = `usage: npm run voices:build-test -- [--dir DIR] [--speakers N] [--id ID]
  --dir DIR      voices root to write piper/<id>/ into (default: voicepacks/)
  --speakers N   a multi-speaker voice with N speakers (default 1)
  --id ID        the voice id (default ${TEST_VOICE_ID})`;

const { values } = parseCommandLine(
  {
    options: {
      dir: { type: 'string' },
      speakers: { type: 'string', default: '1' },
      id: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

const numSpeakers = Number(values.speakers);
if (!Number.isInteger(numSpeakers) || numSpeakers < 1) usageError(USAGE, `--speakers must be a positive integer, got "${values.speakers}"`);

console.log(writeTestVoice(values.dir ?? voicepacksDir(), { numSpeakers, id: values.id }));
