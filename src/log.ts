/**
 * The pino logger factory. tracegate never logs admitted objects; the redaction list is a second line
 * of defence should a future log call pass one (Secret data, env values, tokens, certificates).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Decision } from './admission/decision.js';

export const REDACTED_PATHS: readonly string[] = [
  '*.env',
  '*.envFrom',
  '*.data',
  '*.stringData',
  '*.object',
  '*.oldObject',
  '*.headers.authorization',
  '*.token',
  '*.keyPem',
  '*.password',
];

/**
 * stdout is written in batches of this many bytes (about five decision lines): each write hands the
 * batch to a libuv pool thread and back, which cost more per line than formatting it when every line
 * was written on its own.
 */
const LOG_BATCH_BYTES = 4096;

/** A batch not yet full is written after at most this long, so a quiet gate's lines still show promptly. */
const LOG_FLUSH_MS = 250;

/**
 * Creates a JSON logger; `destination` lets tests capture lines. Without one, pino writes to stdout
 * through an asynchronous SonicBoom in batches (flushed every LOG_FLUSH_MS and on exit), so no log line
 * blocks a review and a full log pipe never stalls the event loop.
 */
export function createLogger(opts: { level: string; destination?: DestinationStream; name?: string }): Logger {
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
  return pino(
    {
      name: opts.name ?? 'tracegate',
      level: opts.level,
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Writes one admission decision line; `durationMs` is added after the decision's own fields. */
export type DecisionWriter = (decision: Readonly<Decision>, durationMs: number) => void;

/** The message of every decision line, which log queries select on. */
export const DECISION_MESSAGE = 'admission decision';

/**
 * Writes the one line per admission decision straight to `log`'s destination, byte for byte the line
 * `log.info(decision, DECISION_MESSAGE)` writes, with one JSON.stringify of the whole decision instead of
 * pino's per-key serialisation and its redaction pass: that cost more per review than evaluating the
 * policies. No redaction is needed: a decision holds only strings, numbers, booleans and string arrays
 * (admission/decision.ts), never object data, so the `*.<key>` paths above cannot match it.
 */
export function createDecisionWriter(log: Logger): DecisionWriter {
  const stream = (log as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym]!;
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  const tail = `,"msg":${JSON.stringify(DECISION_MESSAGE)}}\n`;
  // Reviews arrive many per millisecond under load; the ISO timestamp only changes once per millisecond.
  let stampedAt = 0;
  let stamp = '';
  return (decision, durationMs) => {
    if (!log.isLevelEnabled('info')) return;
    const now = Date.now();
    if (now !== stampedAt) {
      stampedAt = now;
      stamp = new Date(now).toISOString();
    }
    const fields = JSON.stringify(decision);
    // `fields` is `{…}`: its inside goes between pino's head and the duration.
    stream.write(`{"level":"info","time":"${stamp}"${bindings},${fields.slice(1, -1)},"durationMs":${durationMs}${tail}`);
  };
}
