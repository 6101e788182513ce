import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../log.js';

/** The project's logger, as a service creates it, writing its JSON lines into `lines`. */
export function captureLog(level = 'trace'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ level, destination }), lines };
}
