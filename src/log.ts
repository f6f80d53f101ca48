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

/** Creates a JSON logger; `destination` lets tests capture lines. */
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
