import { describe, expect, it } from 'vitest';
import { clauseBoundaries, hasClauseBoundary, splitAtLastClauseBoundary } from '../../machines/clause-boundary.js';

describe('clause boundaries (streamed text)', () => {
  it('finds . ! ? , ; : followed by whitespace or the end', () => {
    for (const mark of ['.', '!', '?', ',', ';', ':']) {
      expect(hasClauseBoundary(`Yes${mark}`), mark).toBe(true);
      expect(hasClauseBoundary(`Yes${mark} and`), mark).toBe(true);
      expect(hasClauseBoundary(`Yes${mark}\nand`), mark).toBe(true);
    }
    expect(clauseBoundaries('One, two. Three')).toEqual([4, 9]);
  });

  it('ignores punctuation inside words and numbers, and punctuation closing no words', () => {
    expect(hasClauseBoundary('Pi is 3.14159')).toBe(false);
    expect(hasClauseBoundary('a,b;c:d')).toBe(false);
    expect(hasClauseBoundary('example.com')).toBe(false);
    expect(hasClauseBoundary('Hello')).toBe(false);
    expect(hasClauseBoundary(', ')).toBe(false);
    expect(hasClauseBoundary(' ... ')).toBe(false);
    expect(hasClauseBoundary('')).toBe(false);
  });

  it('treats a punctuation run and closing quotes or brackets as part of the boundary', () => {
    expect(clauseBoundaries('Wait... what?!')).toEqual([7, 14]);
    expect(splitAtLastClauseBoundary('He said "stop." Then')).toEqual({ head: 'He said "stop."', tail: 'Then' });
    expect(splitAtLastClauseBoundary('(as noted.) More')).toEqual({ head: '(as noted.)', tail: 'More' });
  });

  it('splits after the last boundary: complete clauses now, the rest waits', () => {
    expect(splitAtLastClauseBoundary('Hello world, how')).toEqual({ head: 'Hello world,', tail: 'how' });
    expect(splitAtLastClauseBoundary(' One. Two; three ')).toEqual({ head: 'One. Two;', tail: 'three ' });
    expect(splitAtLastClauseBoundary('Done.')).toEqual({ head: 'Done.', tail: '' });
    expect(splitAtLastClauseBoundary('no boundary yet')).toBeNull();
  });

  it('handles non-Latin words', () => {
    expect(splitAtLastClauseBoundary('Привет, мир')).toEqual({ head: 'Привет,', tail: 'мир' });
    expect(hasClauseBoundary('42.')).toBe(true);
  });
});
