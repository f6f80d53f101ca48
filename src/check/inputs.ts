/**
 * Input documents for `tracegate check`: multi-document YAML or JSON from files, directories and
 * stdin (`helm template … | tracegate check -`). Parsing is pure (`parseInputText`); `readInputs`
 * is the file-system edge.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { TracegateError } from '../errors.js';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { errorLine, lineOf } from '../yaml/locate.js';

export interface InputDocument {
  file: string;
  /** Position of the resource in its file, 0-based, counting `List` items separately. */
  index: number;
  object: KubeObject;
  /** Line where the resource starts. */
  line: number;
  /** Line of a path inside the resource, for reports that point at the field. */
  lineOf(path: string): number | undefined;
}

const INPUT_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Parses one multi-document text. Throws TracegateError(INPUT_PARSE) naming file and line. */
export function parseInputText(text: string, file: string): InputDocument[] {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  const out: InputDocument[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const line = errorLine(err, counter);
      throw new TracegateError('INPUT_PARSE', `${file}${line ? `:${line}` : ''}: ${err.message.split('\n')[0]}`, { file, line });
    }
    let value: unknown;
    try {
      // Caps alias expansion: a "billion laughs" document must be an input error, not an out-of-memory crash.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const line = lineOf(doc, counter, '');
      throw new TracegateError('INPUT_PARSE', `${file}${line ? `:${line}` : ''}: ${(err as Error).message}`, { file, line });
    }
    if (value === null || value === undefined) continue;
    if (!isRecord(value)) {
      const line = lineOf(doc, counter, '');
      throw new TracegateError('INPUT_PARSE', `${file}${line ? `:${line}` : ''}: expected a Kubernetes object, got ${Array.isArray(value) ? 'a list' : typeof value}`, { file, line });
    }
    // `kubectl get -o yaml` prints a List: check each item as its own resource.
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, i) => {
        if (isRecord(item)) out.push(located(file, out.length, item as KubeObject, doc, counter, `items[${i}].`));
      });
    } else out.push(located(file, out.length, value as KubeObject, doc, counter, ''));
  }
  return out;
}

function located(file: string, index: number, object: KubeObject, doc: Document, counter: LineCounter, prefix: string): InputDocument {
  const base = prefix ? prefix.slice(0, -1) : '';
  return {
    file,
    index,
    object,
    line: lineOf(doc, counter, base) ?? 1,
    lineOf: (path: string) => lineOf(doc, counter, `${prefix}${path}`),
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
 * Reads every input; `-` is standard input, read through `readStdin`. Relative paths resolve against
 * `cwd` (the CLI's, not necessarily the process's) but reports name files as the user wrote them.
 */
export async function readInputs(paths: readonly string[], readStdin: () => Promise<string>, cwd = process.cwd()): Promise<InputDocument[]> {
  const out: InputDocument[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(...parseInputText(await readStdin(), '<stdin>'));
      continue;
    }
    const abs = resolve(cwd, p);
    const info = await stat(abs).catch(() => undefined);
    if (!info) throw new TracegateError('INPUT_NOT_FOUND', `input not found: ${p}`, { path: p });
    const files = info.isDirectory() ? (await listFiles(abs)).map((f) => join(p, relative(abs, f))) : [p];
    for (const f of files) out.push(...parseInputText(await readFile(resolve(cwd, f), 'utf8'), f));
  }
  return out;
}
