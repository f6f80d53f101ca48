/**
 * Policy files → a validated, compiled, frozen PolicySet. `parse` is pure (text in, policies out);
 * `load` is the file-system edge; `check` does one parsed document (a cluster object) without throwing.
 * Documents are `Policy` or `TracegatePolicy` (the CRD's form, see tracegate-policy.ts), both checked
 * by the one schema. Every failure names the file, the line, the path inside the document and what is
 * wrong, because a bad policy must be a startup error a person can fix at once.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseAllDocuments } from 'yaml';
import { TracegateError } from '../errors.js';
import { compilePolicy, deepFreeze, type CompileProblem } from './compile.js';
import { childPath, errorLine, lineOf } from '../yaml/locate.js';
import { DEFAULT_ANNOTATION_PREFIX } from './defaults.js';
import { sha256Digest } from './digest.js';
import { isTracegatePolicy, objectPath, policyDocumentOf } from './tracegate-policy.js';
import type { CompiledPolicy, PolicyDocument, PolicySet, PolicySource } from './types.js';

export interface PolicyProblem {
  file: string;
  document: number;
  line?: number;
  path: string;
  message: string;
}

/** A problem of one document, before it has a file and a line: `linePath` is the field to point at when more precise. */
export interface CheckedProblem {
  path: string;
  linePath?: string;
  message: string;
}

/** One document validated and compiled, or why it cannot be used. */
export type Checked = { ok: true; value: CompiledPolicy } | { ok: false; code: 'POLICY_SCHEMA' | 'POLICY_INVALID'; problems: CheckedProblem[] };

export interface PolicyLoaderOptions {
  /** The JSON Schema object from policies/policy.schema.json. */
  schema: object;
  annotationPrefix?: string;
}

/** Converts an ajv instancePath (`/spec/rules/0/id`) to the kubectl-style path `spec.rules[0].id`. */
export function pointerToPath(pointer: string): string {
  if (!pointer) return '(document)';
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : childPath(acc, seg)), '');
}

const CHECKS = ['images', 'resources', 'metadata', 'provenance', 'revisionHistory'] as const;

/** The one-check rule in words, naming the checks a rule has when it has more than one. */
function oneCheckMessage(value: unknown): string {
  const has = value !== null && typeof value === 'object' ? CHECKS.filter((c) => Object.hasOwn(value, c)) : [];
  const found = has.length > 1 ? `it has ${has.join(' and ')}` : 'it has none';
  return `a rule needs exactly one check (images, resources, metadata, provenance or revisionHistory); ${found}`;
}

/** `path` names the offending node; `linePath` the field to point at when that is more precise (an unknown key). */
function describeAjvError(e: ErrorObject): { path: string; linePath?: string; message: string } {
  const path = pointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      return { path, linePath: childPath(path, field), message: `unknown field ${JSON.stringify(field)}` };
    }
    case 'required':
      return { path, message: `missing required field ${JSON.stringify((e.params as { missingProperty: string }).missingProperty)}` };
    case 'enum':
      return { path, message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'oneOf':
      return { path, message: oneCheckMessage(e.data) };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/** ajv reports the alternatives of a oneOf too; keep the one clear message instead. */
function usefulErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const out = errors.filter((e) => !(e.keyword === 'required' && oneOfPaths.has(e.instancePath) && e.schemaPath.includes('/oneOf/')));
  const seen = new Set<string>();
  return out.filter((e) => {
    const key = `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`;
    return !seen.has(key) && (seen.add(key), true);
  });
}

/** Formats problems as one message: `file:line: path: what is wrong`, one per line. */
export function formatPolicyProblems(problems: readonly PolicyProblem[]): string {
  return problems
    .map((p) => `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.document > 0 ? `document ${p.document + 1}: ` : ''}${p.path}: ${p.message}`)
    .join('\n');
}

function fail(code: 'POLICY_PARSE' | 'POLICY_SCHEMA' | 'POLICY_INVALID' | 'POLICY_DUPLICATE', problems: PolicyProblem[]): never {
  throw new TracegateError(code, `invalid policy:\n${formatPolicyProblems(problems)}`, { problems });
}

/** Creates a loader; the schema is compiled once here. */
export function createPolicyLoader(opts: PolicyLoaderOptions) {
  // strictRequired would reject the schema's `oneOf: [{required: [images]}, …]`, the standard way to say "exactly one of".
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
  const validate: ValidateFunction = ajv.compile(opts.schema);
  const annotationPrefix = opts.annotationPrefix ?? DEFAULT_ANNOTATION_PREFIX;

  /**
   * Validates and compiles one parsed document (a `Policy`, or a `TracegatePolicy` converted first), never
   * throwing: problems carry paths as the document wrote them (`spec.version` of a TracegatePolicy).
   */
  function check(value: unknown, source: PolicySource): Checked {
    const cluster = isTracegatePolicy(value);
    const converted = cluster ? policyDocumentOf(value) : undefined;
    const doc = converted ? converted.doc : value;
    const at = cluster ? objectPath : (p: string) => p;
    const problems: CheckedProblem[] = [...(converted?.problems ?? [])];
    if (!validate(doc)) {
      for (const e of usefulErrors(validate.errors ?? [])) {
        const { linePath, ...d } = describeAjvError(e);
        problems.push({ path: at(d.path), ...(linePath !== undefined ? { linePath: at(linePath) } : {}), message: d.message });
      }
    }
    if (problems.length) return { ok: false, code: 'POLICY_SCHEMA', problems };
    const compiled = compilePolicy(doc as PolicyDocument, source, { annotationPrefix });
    if (!compiled.ok) return { ok: false, code: 'POLICY_INVALID', problems: compiled.problems.map((p: CompileProblem) => ({ ...p, path: at(p.path) })) };
    return compiled;
  }

  /** Parses every YAML document of one policy file. Throws TracegateError(POLICY_*) naming file and line. */
  function parse(text: string, file: string): CompiledPolicy[] {
    const counter = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false });
    if (!Array.isArray(docs)) fail('POLICY_PARSE', [{ file, document: 0, path: '(document)', message: 'not a YAML stream' }]);
    const out: CompiledPolicy[] = [];
    docs.forEach((doc, index) => {
      const yamlErr = doc.errors[0];
      if (yamlErr) {
        const line = errorLine(yamlErr, counter);
        fail('POLICY_PARSE', [{ file, document: index, ...(line !== undefined ? { line } : {}), path: '(document)', message: yamlErr.message.split('\n')[0]! }]);
      }
      let value: unknown;
      try {
        // Caps alias expansion: a "billion laughs" document must be an error, not an out-of-memory crash.
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (err) {
        const line = lineOf(doc, counter, '');
        fail('POLICY_PARSE', [{ file, document: index, ...(line !== undefined ? { line } : {}), path: '(document)', message: (err as Error).message }]);
      }
      if (value === null || value === undefined) return; // an empty document (e.g. a trailing `---`)
      const checked = check(value, { file, document: index });
      if (!checked.ok) {
        fail(
          checked.code,
          checked.problems.map(({ linePath, ...p }) => {
            const line = lineOf(doc, counter, linePath ?? p.path);
            return { file, document: index, ...(line !== undefined ? { line } : {}), ...p };
          }),
        );
      }
      out.push(checked.value);
    });
    return out;
  }

  /** Builds a set from compiled policies: unique names, sorted by name, with a digest of the whole set. */
  function toSet(policies: readonly CompiledPolicy[]): PolicySet {
    const byName = new Map<string, CompiledPolicy>();
    for (const p of policies) {
      const prev = byName.get(p.name);
      if (prev) {
        fail('POLICY_DUPLICATE', [
          { file: p.source.file, document: p.source.document, path: 'metadata.name', message: `policy ${JSON.stringify(p.name)} is also defined in ${prev.source.file}` },
        ]);
      }
      byName.set(p.name, p);
    }
    const sorted = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
    return deepFreeze({ policies: sorted, digest: sha256Digest(sorted.map((p) => `${p.name}@${p.digest}`).join('\n')) });
  }

  /** Reads policy files and directories (`*.yaml`, `*.yml`, not recursive). */
  async function load(paths: readonly string[], baseDir = process.cwd()): Promise<PolicySet> {
    const files: string[] = [];
    for (const p of paths) {
      const info = await stat(p).catch(() => undefined);
      if (!info) throw new TracegateError('POLICY_NOT_FOUND', `policy path not found: ${p}`, { path: p });
      if (info.isDirectory()) {
        const names = (await readdir(p)).filter((n) => ['.yaml', '.yml'].includes(extname(n))).sort();
        files.push(...names.map((n) => join(p, n)));
      } else files.push(p);
    }
    if (files.length === 0) throw new TracegateError('POLICY_NOT_FOUND', `no policy files (*.yaml, *.yml) in ${paths.join(', ')}`, { paths });
    // The same file named twice (`-p policies -p policies/x.yaml`) is one source, not a duplicate policy.
    const unique = new Map(files.map((f) => [resolve(f), f]));
    const policies: CompiledPolicy[] = [];
    for (const file of unique.values()) {
      const shown = relative(baseDir, file) || file;
      const name = shown.startsWith('..') ? file : shown;
      const found = parse(await readFile(file, 'utf8'), name);
      // An emptied or comment-only file would otherwise load as "no rules": enforcing nothing, silently.
      if (found.length === 0) fail('POLICY_INVALID', [{ file: name, document: 0, line: 1, path: '(document)', message: 'no policy in this file (it is empty or only comments)' }]);
      policies.push(...found);
    }
    return toSet(policies);
  }

  return { check, parse, toSet, load };
}

export type PolicyLoader = ReturnType<typeof createPolicyLoader>;

/** Reads the shipped schema file; the one place the loader's schema comes from disk. */
export async function readPolicySchema(path: string): Promise<object> {
  return JSON.parse(await readFile(path, 'utf8')) as object;
}
