import { describe, expect, it } from 'vitest';
import { thrown } from './__fixtures__/errors.js';
import * as valid from './validation.js';

describe('task input rules', () => {
  it('title: trimmed, 1 to 200 characters on one line', () => {
    expect(valid.title('  Plan  ')).toBe('Plan');
    expect(valid.title('Plan\n')).toBe('Plan');
    expect(valid.title('t'.repeat(200))).toHaveLength(200);
    for (const bad of ['', '   ', 't'.repeat(201), null, 'a\u0000b', 'a\nb', 'a\tb', '\ud800']) {
      expect(thrown(() => valid.title(bad))).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'input.title',
      });
    }
  });

  it('description: at most 10,000 characters, tabs and line breaks kept; blank is none', () => {
    expect(valid.description('d'.repeat(10_000))).toHaveLength(10_000);
    expect(valid.description('one\r\n\ttwo')).toBe('one\r\n\ttwo');
    expect(valid.description('  ')).toBeNull();
    expect(valid.description(null)).toBeNull();
    for (const bad of ['d'.repeat(10_001), 'a\u0000', 'bell\u0007']) {
      expect(thrown(() => valid.description(bad))).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'input.description',
      });
    }
  });

  it('dates: real calendar dates as YYYY-MM-DD, years 1 to 9999', () => {
    for (const good of ['2026-01-31', '2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31']) {
      expect(valid.calendarDate(good, 'input.dueDate')).toBe(good);
    }
    for (const bad of [
      '2026-02-29',
      '1900-02-29',
      '2026-04-31',
      '2026-13-01',
      '2026-00-10',
      '2026-01-00',
      '0000-01-01',
      '2026-1-01',
      ' 2026-01-01',
      '2026-01-01T00:00:00Z',
      '20260101',
      'tomorrow',
      '',
    ]) {
      expect(
        thrown(() => valid.calendarDate(bad, 'filter.dueAfter')),
        bad,
      ).toEqual({ code: 'BAD_USER_INPUT', field: 'filter.dueAfter' });
    }
    expect(valid.optionalDate(null, 'input.dueDate')).toBeNull();
    expect(valid.optionalDate(undefined, 'input.dueDate')).toBeNull();
  });

  it('search: trimmed, blank is none, at most 200 characters', () => {
    expect(valid.search('  report ')).toBe('report');
    expect(valid.search('   ')).toBeNull();
    expect(valid.search(undefined)).toBeNull();
    for (const bad of ['s'.repeat(201), 're\u0000port', 'a\u001bb']) {
      expect(thrown(() => valid.search(bad))).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'filter.search',
      });
    }
  });
});
