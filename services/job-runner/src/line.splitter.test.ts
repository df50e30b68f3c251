import { decodeLogRecord, encodeLogRecord } from './executor/executor.protocol';
import { LineSplitter } from './line.splitter';

describe('LineSplitter', () => {
  it('splits chunks into lines across chunk and UTF-8 boundaries, CRLF included', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('one\r\ntwo ü\nthr', 'utf8');
    for (const b of bytes) s.push(Buffer.from([b]));
    s.push('ee\nlast');
    s.end();
    expect(lines).toEqual(['one', 'two ü', 'three', 'last']);
  });

  it('cuts lines longer than the limit', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 4);
    s.push('abcdefghij\n');
    s.end();
    expect(lines).toEqual(['abcd', 'efgh', 'ij']);
  });
});

describe('log records', () => {
  it('round-trip level, source and text; multi-line text becomes several records', () => {
    const encoded = encodeLogRecord('WARNING', 'step:a\tb', 'line 1\nline 2');
    const lines = encoded.trimEnd().split('\n');
    expect(lines.map(decodeLogRecord)).toEqual([
      { level: 'WARNING', source: 'step:a b', text: 'line 1' },
      { level: 'WARNING', source: 'step:a b', text: 'line 2' },
    ]);
  });

  it('treats anything else as a plain line', () => {
    expect(decodeLogRecord('hello')).toBeNull();
    expect(decodeLogRecord('\u001eim\tLOUD\tx\ty')).toBeNull();
  });
});
