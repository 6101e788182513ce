import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { isCalendarDate, isTimestamp, text, type TextKind } from './input.js';

/** What `text` answers: the value, or the code, field and message of its error. */
function answer(value: string, kind: TextKind) {
  try {
    return text(value, 'input.someField', kind);
  } catch (err) {
    if (!(err instanceof GraphQLError)) throw err;
    return { code: err.extensions.code, field: err.extensions.field, message: err.message };
  }
}

const refused = (message: string) => ({
  code: 'BAD_USER_INPUT',
  field: 'input.someField',
  message: `someField ${message}`,
});

describe('text arguments', () => {
  const ordinary = ['Alice', 'Zoë Ünal', '报告', '😀 emoji', 'a\u2028b', ''];

  it('on one line: no control character, C0, DEL or C1; only well-formed Unicode', () => {
    for (const value of ordinary) expect(answer(value, 'line'), value).toBe(value);
    for (const value of ['a\0b', '\t', 'a\nb', '\r', '\u001b[31m', '\u007f', '\u0085', '\u009f']) {
      expect(answer(value, 'line'), JSON.stringify(value)).toEqual(
        refused('must not contain control characters'),
      );
    }
    for (const value of ['\ud800', 'a\udc00', '\ud83d!']) {
      expect(answer(value, 'line'), JSON.stringify(value)).toEqual(
        refused('must be valid Unicode text'),
      );
    }
  });

  it('over several lines: tabs and line breaks too, no other control character', () => {
    for (const value of [...ordinary, 'one\ntwo', 'one\r\n\ttwo']) {
      expect(answer(value, 'lines'), JSON.stringify(value)).toBe(value);
    }
    for (const value of ['\0', 'a\u0007', '\u000b', '\u000c', '\u001b', '\u007f', '\u0085']) {
      expect(answer(value, 'lines'), JSON.stringify(value)).toEqual(
        refused('must not contain control characters other than tabs and line breaks'),
      );
    }
    expect(answer('x\ud800', 'lines')).toEqual(refused('must be valid Unicode text'));
  });

  it('as a secret: anything but NUL', () => {
    for (const value of [...ordinary, 'tab\tnew\nline', '\u0007\u001b\u007f', '\ud800']) {
      expect(answer(value, 'secret'), JSON.stringify(value)).toBe(value);
    }
    for (const value of ['\0', 'password\0', '\0password', 'pass\0word']) {
      expect(answer(value, 'secret'), JSON.stringify(value)).toEqual(
        refused('must not contain NUL characters'),
      );
    }
  });
});

describe('dates and timestamps', () => {
  it('are ISO, on a real calendar day, of a year Postgres and Date both take (1 to 9999)', () => {
    for (const good of ['2026-01-31', '2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31']) {
      expect(isCalendarDate(good), good).toBe(true);
      expect(isTimestamp(`${good}T00:00:00Z`), good).toBe(true);
      expect(isTimestamp(`${good}T23:59:59.999Z`), good).toBe(true);
    }
    for (const bad of [
      '0000-01-01',
      '0000-02-29',
      '1900-02-29',
      '2026-02-30',
      '2026-13-01',
      '10000-01-01',
      '+010000-01-01',
      '-000001-01-01',
      '2026-1-01',
      ' 2026-01-01',
      'NaN',
      '',
    ]) {
      expect(isCalendarDate(bad), bad).toBe(false);
      expect(isTimestamp(`${bad}T00:00:00.000Z`), bad).toBe(false);
    }
    for (const bad of [
      '2026-01-01',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:00:00',
      'Invalid Date',
    ]) {
      expect(isTimestamp(bad), bad).toBe(false);
    }
  });
});
