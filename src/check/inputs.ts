/**
 * Input documents for `tracegate check`: multi-document YAML or JSON from files, directories and
 * stdin (`helm template … | tracegate check -`). Parsing is pure and streams (`inputDocuments`): each
 * document is parsed, handed on and dropped, so memory follows the largest document, not the input;
 * `readInputDocuments` is the file-system edge.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { Composer, LineCounter, Parser, type Document } from 'yaml';
import { TracegateError } from '../errors.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { errorLine, lineOf } from '../yaml/locate.js';
import { createPlainEnvRunner } from './plain-env.js';

export interface InputDocument {
  file: string;
  /** Position of the resource in its file, 0-based, counting `List` items separately. */
  index: number;
  object: KubeObject;
  /** Line where the resource starts. */
  line: number;
  /** Line of a path inside the resource, for reports that point at the field (located when asked). */
  lineOf(path: string): number | undefined;
}

const INPUT_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

const PARSE_OPTIONS = { prettyErrors: false } as const;

function inputError(file: string, line: number | undefined, message: string): TracegateError {
  return new TracegateError('INPUT_PARSE', `${file}${line ? `:${line}` : ''}: ${message}`, { file, line });
}

/** A document's value: an object, or undefined for an empty document. Throws INPUT_PARSE for anything else. */
function objectOf(doc: Document, file: string, lines: LineCounter): Record<string, unknown> | undefined {
  const err = doc.errors[0];
  if (err) throw inputError(file, errorLine(err, lines), err.message.split('\n')[0]!);
  let value: unknown;
  try {
    // Caps alias expansion: a "billion laughs" document must be an input error, not an out-of-memory crash.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw inputError(file, lineOf(doc, lines, ''), (err as Error).message);
  }
  if (value === null || value === undefined) return undefined;
  if (!isRecord(value)) throw inputError(file, lineOf(doc, lines, ''), `expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  return value;
}

/**
 * The resources of one multi-document text, in order, one YAML document at a time: yaml's `Parser` and
 * `Composer` streaming (what `parseAllDocuments` runs, without holding every document). Throws
 * TracegateError(INPUT_PARSE) naming file and line, after yielding the resources before it.
 */
export function* inputDocuments(text: string, file: string): Generator<InputDocument> {
  // Fed by the parser, which is a document ahead of the composer: every line a document's errors and
  // findings can point at is known when the document comes out.
  const lines = new LineCounter();
  const plainEnv = createPlainEnvRunner();
  const docs = new Composer(PARSE_OPTIONS).compose(new Parser(lines.addNewLine).parse(text));
  let index = 0;
  for (let next = plainEnv(() => docs.next()); !next.done; next = plainEnv(() => docs.next())) {
    const doc = next.value;
    const value = objectOf(doc, file, lines);
    if (value === undefined) continue;
    // `kubectl get -o yaml` prints a List: check each item as its own resource.
    if (value.kind === 'List' && Array.isArray(value.items)) {
      for (const [i, item] of value.items.entries()) if (isRecord(item)) yield located(file, index++, item as KubeObject, doc, lines, `items[${i}].`);
    } else yield located(file, index++, value as KubeObject, doc, lines, '');
  }
}

/** Parses one multi-document text. Throws TracegateError(INPUT_PARSE) naming file and line. */
export function parseInputText(text: string, file: string): InputDocument[] {
  return [...inputDocuments(text, file)];
}

function located(file: string, index: number, object: KubeObject, doc: Document, lines: LineCounter, prefix: string): InputDocument {
  const base = prefix ? prefix.slice(0, -1) : '';
  return {
    file,
    index,
    object,
    line: lineOf(doc, lines, base) ?? 1,
    lineOf: (path: string) => lineOf(doc, lines, `${prefix}${path}`),
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)));
    else if (INPUT_EXTENSIONS.has(extname(e.name))) out.push(p);
  }
  return out;
}

/**
 * Every input's resources, file by file and document by document; `-` is standard input, read through
 * `readStdin`. Relative paths resolve against `cwd` (the CLI's, not necessarily the process's) but
 * reports name files as the user wrote them.
 */
export async function* readInputDocuments(paths: readonly string[], readStdin: () => Promise<string>, cwd = process.cwd()): AsyncGenerator<InputDocument> {
  for (const p of paths) {
    if (p === '-') {
      yield* inputDocuments(await readStdin(), '<stdin>');
      continue;
    }
    const abs = resolve(cwd, p);
    const info = await stat(abs).catch(() => undefined);
    if (!info) throw new TracegateError('INPUT_NOT_FOUND', `input not found: ${p}`, { path: p });
    const files = info.isDirectory() ? (await listFiles(abs)).map((f) => join(p, relative(abs, f))) : [p];
    for (const f of files) yield* inputDocuments(await readFile(resolve(cwd, f), 'utf8'), f);
  }
}
