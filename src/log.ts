/**
 * The pino logger factory. tracegate never logs admitted objects; the redaction list is a second line
 * of defence should a future log call pass one (Secret data, env values, tokens, certificates).
 */
import { pino, type DestinationStream, type Logger } from 'pino';

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
 * Creates a JSON logger; `destination` lets tests capture lines. Without one, pino writes to stdout
 * through an asynchronous SonicBoom (pino's default, flushed on exit), so no log line blocks a review.
 */
export function createLogger(opts: { level: string; destination?: DestinationStream; name?: string }): Logger {
  return pino(
    {
      name: opts.name ?? 'tracegate',
      level: opts.level,
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination,
  );
}

/**
 * A child of `log` for the one line per admission decision: the same output, without the redaction pass.
 * A decision holds only strings, numbers, booleans and string arrays (admission/decision.ts), which the
 * `*.<key>` paths above can never match, and the pass — a clone and a serialisation per top-level key —
 * cost more per review than evaluating the policies.
 */
export function createDecisionLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}
