/**
 * The baseline for the check CLI bench: `tracegate check FILE` as it parsed before streaming (commit
 * ea8b718) — `parseAllDocuments` over the whole text with one `LineCounter`, every document and its
 * `Document` held until all are parsed, then evaluated — with today's policies, evaluator and text report.
 * The bench runs it from the production layout beside the CLI, in the same run, on the same input.
 * `wholeTextParse` is also the oracle of test/unit/check-stream.test.ts.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { InputDocument } from '../src/check/inputs.js';
import { formatText } from '../src/check/report-text.js';
import { runCheck } from '../src/check/run.js';
import { loadPolicySet } from '../src/cli/policies-option.js';
import { TracegateError } from '../src/errors.js';
import { isRecord, type KubeObject } from '../src/k8s/types.js';
import { errorLine, lineOf } from '../src/yaml/locate.js';

/** The parse `check` used before streaming, unchanged: all documents of `text` at once. */
export function wholeTextParse(text: string, file: string): InputDocument[] {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  const out: InputDocument[] = [];
  const located = (index: number, object: KubeObject, doc: Document, prefix: string): InputDocument => ({
    file,
    index,
    object,
    line: lineOf(doc, counter, prefix ? prefix.slice(0, -1) : '') ?? 1,
    lineOf: (path: string) => lineOf(doc, counter, `${prefix}${path}`),
  });
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const line = errorLine(err, counter);
      throw new TracegateError('INPUT_PARSE', `${file}${line ? `:${line}` : ''}: ${err.message.split('\n')[0]}`, { file, line });
    }
    let value: unknown;
    try {
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
    if (value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, i) => {
        if (isRecord(item)) out.push(located(out.length, item as KubeObject, doc, `items[${i}].`));
      });
    } else out.push(located(out.length, value as KubeObject, doc, ''));
  }
  return out;
}

/** `check FILE` with the bundled policies and the CLI's defaults, text report on stdout, the CLI's exit code. */
async function main(file: string): Promise<number> {
  const cwd = process.cwd();
  const set = await loadPolicySet(undefined, { cwd } as Parameters<typeof loadPolicySet>[1]);
  const docs = wholeTextParse(await readFile(resolve(cwd, file), 'utf8'), file);
  const report = runCheck(set, docs, { namespace: 'default', username: '', groups: [], provenance: false });
  process.stdout.write(formatText(report));
  return report.summary.denied > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await main(process.argv[2]!);
