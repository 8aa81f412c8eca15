import { parseArgs } from 'node:util';
import { writeTestVoice } from '../workers/tts/voices/test-voice.js';
import { voicepacksDir } from '../workers/tts/voices/voicepack.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    speakers: { type: 'string', default: '1' },
    id: { type: 'string' },
  },
});

const numSpeakers = Number(values.speakers);
if (!Number.isInteger(numSpeakers) || numSpeakers < 1) {
  console.error(`--speakers must be a positive integer, got "${values.speakers}"`);
  process.exit(2);
}

console.log(writeTestVoice(values.dir ?? voicepacksDir(), { numSpeakers, id: values.id }));
