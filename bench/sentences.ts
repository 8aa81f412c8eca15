/** Fixed benchmark sentences of 8 to 20 words (the range the FAL bar is stated for). */
export const BENCH_SENTENCES = [
  'The quick brown fox jumps over the lazy dog near the quiet river bank.',
  'Please remind me to call my sister when I get home tonight.',
  'Our flight to Chicago leaves at seven thirty tomorrow morning, so pack tonight.',
  'The museum opens at nine and the guided tour starts an hour later.',
  'I think the new coffee shop on the corner makes the best croissants in town.',
  'Could you turn the music down a little while I finish this phone call?',
  'After the storm passed, the children ran outside to splash in the puddles.',
  'The report is due on Friday, but we still need two more charts.',
  'Remember that the library closes early on holidays and weekends during the summer.',
  'She smiled, waved goodbye to everyone, and walked slowly toward the waiting train.',
];
