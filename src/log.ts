/**
 * The pino logger factory. tracegate never logs admitted objects; the redaction list is a second line
 * of defence should a future log call pass one (Secret data, env values, tokens, certificates). The
 * decision line, whose fields are all the gate's own (bounded text, numbers, flags), is written by a
 * second logger on the same destination without that pass.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Decision } from './admission/decision.js';
import { boundText } from './policy/digest.js';

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

/** What {@link createLogger} and {@link createLoggers} take; `destination` lets tests capture lines. */
export interface LoggerSettings {
  level: string;
  destination?: DestinationStream;
  name?: string;
}

/**
 * Without a destination, pino writes to stdout through an asynchronous SonicBoom in batches (flushed
 * every LOG_FLUSH_MS and on exit), so no log line blocks a review and a full log pipe never stalls the
 * event loop.
 */
function destinationOf(opts: LoggerSettings): DestinationStream {
  return opts.destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
}

/** The options every tracegate logger shares: same name, bindings, time and level format. */
function loggerOptions(opts: LoggerSettings): LoggerOptions {
  return {
    name: opts.name ?? 'tracegate',
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
}

function redactingLogger(opts: LoggerSettings, destination: DestinationStream): Logger {
  return pino({ ...loggerOptions(opts), redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } }, destination);
}

/** Creates the JSON logger (redacting {@link REDACTED_PATHS}). */
export function createLogger(opts: LoggerSettings): Logger {
  return redactingLogger(opts, destinationOf(opts));
}

/** The gate's loggers: `log` for every line, `decisions` for the decision lines only. */
export interface GateLoggers {
  log: Logger;
  /**
   * The same destination, name and format without the redaction pass, which costs ~29 µs per line (pino
   * clones and serialises every value of a line that `*.<key>` paths could match) and can find nothing
   * in a decision: {@link createDecisionWriter} gives this logger only the decision's own fields.
   */
  decisions: DecisionLogger;
}

/**
 * The decision lines' logger, carrying its destination and bindings so {@link createDecisionWriter} can
 * write each line itself (one JSON.stringify) instead of through pino's per-key serialisation.
 */
export type DecisionLogger = Logger & { readonly decisionLine?: { destination: DestinationStream; bindings: string } };

/** Creates {@link GateLoggers} on one destination, so their lines keep the order they were written in. */
export function createLoggers(opts: LoggerSettings): GateLoggers {
  const destination = destinationOf(opts);
  const options = loggerOptions(opts);
  const log = redactingLogger(opts, destination);
  // Always at info, the decision line's level: whether it is written follows `log`'s level (see createDecisionWriter).
  const decisions = pino({ ...options, level: 'info' }, destination);
  // pino writes `base` then `name` after the time: `,"pid":…,"name":"…"`.
  const bindings = `,"pid":${JSON.stringify(process.pid)},"name":${JSON.stringify(options.name)}`;
  return { log, decisions: Object.assign(decisions, { decisionLine: { destination, bindings } }) };
}

/** Writes one admission decision line; `durationMs` is added after the decision's own fields. */
export type DecisionWriter = (decision: Readonly<Decision>, durationMs: number) => void;

/** The message of every decision line, which log queries select on. */
export const DECISION_MESSAGE = 'admission decision';

/** Longest request value (uid, name, user, a change's text) a decision line carries before boundText cuts it. */
const DECISION_TEXT_MAX_CHARS = 256;

/** Most entries of a list (rules, changes) a decision line carries; a note of how many more follows. */
const DECISION_LIST_MAX = 50;

/**
 * Every field a decision line may carry: the Decision's own (`satisfies` keeps this list and the type
 * equal). Anything else on the object is left out of the line.
 */
const DECISION_FIELDS: ReadonlySet<string> = new Set(
  Object.keys({
    webhook: 1, uid: 1, kind: 1, namespace: 1, name: 1, operation: 1, subResource: 1, user: 1, fieldManager: 1, tenant: 1,
    decision: 1, rules: 1, policies: 1, policySet: 1, dryRun: 1, templateChanged: 1, changes: 1, changeId: 1, breakGlass: 1, patchOps: 1,
  } satisfies Record<keyof Decision, 1>),
);

/**
 * A decision value as the line carries it: request text bounded and escaped, lists capped, scalars as
 * they are; anything else (an object, a list of non-text) only described, never serialised.
 */
function boundedValue(v: unknown): unknown {
  if (typeof v === 'string') return boundText(v, DECISION_TEXT_MAX_CHARS);
  if (v === null || typeof v !== 'object') return v;
  if (!Array.isArray(v)) return boundText(v);
  let out: unknown[] | undefined;
  const n = Math.min(v.length, DECISION_LIST_MAX);
  for (let i = 0; i < n; i++) {
    const e: unknown = v[i];
    const b = typeof e === 'string' ? boundText(e, DECISION_TEXT_MAX_CHARS) : boundText(e);
    if (b !== e) (out ??= v.slice(0, n))[i] = b;
  }
  if (v.length > n) (out ??= v.slice(0, n)).push(`…(${v.length - n} more)`);
  return out ?? v;
}

/**
 * The decision's own fields with every request-supplied value bounded (a 6 MiB uid or name must not make
 * a 6 MiB log line). The decision itself when nothing needs it, which is every review the apiserver sends.
 */
export function boundedDecision(decision: Readonly<Decision>): Readonly<Decision> {
  let out: Record<string, unknown> | undefined;
  for (const key in decision) {
    const v = (decision as unknown as Record<string, unknown>)[key];
    // An undefined value is left out of the line, as pino and JSON.stringify leave it out.
    const b = DECISION_FIELDS.has(key) ? boundedValue(v) : undefined;
    if (b !== v) (out ??= { ...decision })[key] = b;
  }
  return (out as unknown as Decision | undefined) ?? decision;
}

/** A UTF-16 surrogate without its other half (`u` mode matches a whole pair as one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * pino's own writer leaves a lone surrogate in a short string unescaped, where the redacting path (JSON.stringify)
 * writes `\udXXX`. Lists go through JSON.stringify either way.
 */
function hasLoneSurrogate(line: Readonly<Record<string, unknown>>): boolean {
  for (const key in line) {
    const v = line[key];
    if (typeof v === 'string' && LONE_SURROGATE.test(v)) return true;
  }
  return false;
}

/**
 * Writes the one line per admission decision: on `decisions` from {@link createLoggers}, straight to its
 * destination as one JSON.stringify of the bounded decision between pino's head (level, time, bindings)
 * and tail (duration, message) — byte for byte the line `log.info(line, DECISION_MESSAGE)` writes (a unit
 * test compares them), including a lone surrogate escaped as JSON.stringify escapes it. With any other
 * logger (a child with bindings of its own, a test's), through pino's public API as before; a line with a
 * lone surrogate then goes through `log`, which writes it escaped. Only the decision's own fields, bounded
 * by {@link boundedDecision}, then the duration. Whether a line is written follows `log`'s level.
 *
 * Why not pino for the gate's own lines: its per-key serialisation, the lone-surrogate scan and a Date per
 * line cost ~30 µs per line in process against ~15 µs for this, and the gate's CPU per review fell by
 * 26-49 µs with it (deny /validate 235 → 201 µs, create /validate 252 → 203 µs, create /mutate 264 → 230 µs;
 * `npm run bench`, 2026-12-06, bench/README.md "Third round"). Only public API: the destination pino.destination returned.
 */
export function createDecisionWriter(log: Logger, decisions: DecisionLogger = log): DecisionWriter {
  // Own property only: a pino child (Object.create of its parent) has bindings of its own this head would miss.
  const direct = decisions !== log && Object.hasOwn(decisions, 'decisionLine') ? decisions.decisionLine : undefined;
  if (direct) {
    const { destination, bindings } = direct;
    const tail = `,"msg":${JSON.stringify(DECISION_MESSAGE)}}\n`;
    // Reviews arrive many per millisecond under load; the ISO timestamp changes once per millisecond.
    let stampedAt = Number.NaN;
    let stamp = '';
    return (decision, durationMs) => {
      if (!log.isLevelEnabled('info')) return;
      const now = Date.now();
      if (now !== stampedAt) {
        stampedAt = now;
        stamp = new Date(now).toISOString();
      }
      const fields = JSON.stringify(boundedDecision(decision));
      const inner = fields.length > 2 ? `${fields.slice(1, -1)},` : '';
      destination.write(`{"level":"info","time":"${stamp}"${bindings},${inner}"durationMs":${JSON.stringify(durationMs)}${tail}`);
    };
  }
  return (decision, durationMs) => {
    if (!log.isLevelEnabled('info')) return;
    const line = { ...boundedDecision(decision), durationMs };
    (hasLoneSurrogate(line) ? log : decisions).info(line, DECISION_MESSAGE);
  };
}
