/**
 * A clone needs nothing beside it. CI (and anyone) clones the repository onto a machine where only the
 * repository exists, so no file under src/, test/, bench/ or demo/ may name a path outside the checkout —
 * the development machine's sibling folder of shared material, its work tree, this checkout's own
 * absolute location or the user's home — and every fixture folder copied from elsewhere must say, in a
 * SOURCE.md, where it came from and under which licence.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/[\\/]$/, '');
const SCANNED = ['src', 'test', 'bench', 'demo'];
const FIXTURES = join(ROOT, 'test', 'fixtures');

/** Fixture folders written for this repository; any other folder under test/fixtures was imported. */
const AUTHORED_FIXTURES = new Set(['approval', 'charts', 'manifests', 'policies']);

/** Bytes read to decide whether a file is binary (git's own heuristic looks at the first 8000). */
const BINARY_SNIFF_BYTES = 8000;

/** Escapes a literal for use inside a RegExp. */
function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Forbidden {
  why: string;
  pattern: RegExp;
}

/**
 * What must not appear. The literals are spelled so that this file does not match its own patterns.
 * A machine path is one that only exists where the repository was developed or is checked out now.
 */
function forbiddenPatterns(root: string, home: string): Forbidden[] {
  const out: Forbidden[] = [
    { why: 'a relative path to the shared folder beside the repository', pattern: /\.\.[\\/]+shared\b/ },
    { why: 'path segments climbing to the shared folder', pattern: /['"`]\.\.['"`]\s*,\s*['"`]shared['"`]/ },
    { why: 'an absolute path under the development work tree', pattern: /(?<![\w.~-])\/work\// },
    { why: 'an environment-variable fallback to the conformance corpus', pattern: new RegExp(['TRACEGATE', 'CONFORMANCE', 'DIR'].join('_')) },
  ];
  // The checkout's own location and the home directory only when they are specific ("/" would match all).
  if (root.length > 1) out.push({ why: `this checkout's absolute path (${root})`, pattern: new RegExp(`${escape(root)}(?![\\w-])`) });
  if (home.length > 1 && home !== root) {
    out.push({ why: `the home directory of this machine (${home})`, pattern: new RegExp(`(?<![\\w.-])${escape(home)}(?![\\w.-])`) });
  }
  return out;
}

/** Every problem in one text, as `line N: why`. */
function problemsIn(text: string, forbidden: readonly Forbidden[]): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    for (const f of forbidden) if (f.pattern.test(line)) out.push(`line ${i + 1}: ${f.why}`);
  });
  return out;
}

/** Files a clone would have: git's index plus new files not ignored; null when git cannot answer. */
function gitFiles(): string[] | null {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...SCANNED], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024, // the file list of a large tree; the default 1 MiB is near today's size
    });
    return out.split('\0').filter((f) => f !== '');
  } catch {
    return null;
  }
}

/** Directories a walk skips: dependencies, VCS data and the gitignored outputs inside scanned folders. */
const WALK_SKIPS = new Set(['node_modules', '.git', '.cache', join('bench', 'results')]);

/** The same list without git (a tarball, a CI step without git): a walk of the scanned folders. */
function walkFiles(): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const child = join(rel, entry.name);
      if (entry.isDirectory()) {
        if (!WALK_SKIPS.has(entry.name) && !WALK_SKIPS.has(child)) visit(child);
      } else if (entry.isFile()) {
        out.push(child.split(sep).join('/'));
      }
    }
  };
  for (const dir of SCANNED) if (existsSync(join(ROOT, dir))) visit(dir);
  return out;
}

/** The text of a file, or null when it is gone (deleted in the working tree) or binary. */
function textOf(file: string): string | null {
  let buf: Buffer;
  try {
    buf = readFileSync(join(ROOT, file));
  } catch {
    return null;
  }
  return buf.subarray(0, BINARY_SNIFF_BYTES).includes(0) ? null : buf.toString('utf8');
}

describe('the forbidden-path detector', () => {
  const root = '/srv/ci/checkout/tracegate';
  const forbidden = forbiddenPatterns(root, '/home/builder');
  // Built from pieces so that this file stays clean under its own scan.
  const up = (n: number): string => '../'.repeat(n);
  const quoted = (segment: string): string => `'${segment}'`;
  const work = '/wo' + 'rk/';

  for (const bad of [
    `const FIXTURES = new URL('${up(3)}shared/fixtures/admission/constructed/', import.meta.url);`,
    `const corpus = join(here, ${quoted('..')}, ${quoted('shared')}, 'conformance');`,
    `const DIR = process.env['X'] ?? '${work}shared/conformance';`,
    `curl --data @${up(1)}shared/fixtures/admission/x.json`,
    `const root = '${root}/test/fixtures';`,
    `see ${root}.`,
    `const kubeconfig = '/home/builder/.kube/config';`,
    `process.env['TRACEGATE_CONFORMANCE_` + `DIR']`,
  ]) {
    it(`flags ${bad.slice(0, 70)}`, () => {
      assert.notDeepEqual(problemsIn(bad, forbidden), [], bad);
    });
  }

  for (const fine of [
    `const corpus = fileURLToPath(new URL('../fixtures/conformance/', import.meta.url));`,
    `function parsed(text: string, file = '/home/me/.kube/config')`,
    `see https://example.com${work}items and /var${work}x`,
    `the key shared with the recorder`,
    `${root}-other/file`,
    `/home/builder2/x`,
  ]) {
    it(`accepts ${fine.slice(0, 70)}`, () => {
      assert.deepEqual(problemsIn(fine, forbidden), []);
    });
  }
});

describe('the repository needs nothing beside it', () => {
  const fromGit = gitFiles();
  const files = fromGit ?? walkFiles();

  it('lists the files to check', () => {
    assert.ok(files.includes('test/unit/repository-standalone.test.ts'), 'the listing includes this file');
    assert.ok(files.some((f) => f.startsWith('src/')), 'the listing includes src/');
  });

  it('no file under src/, test/, bench/ or demo/ names a path outside the clone', () => {
    const forbidden = forbiddenPatterns(ROOT, homedir().replace(/[\\/]$/, ''));
    const problems: string[] = [];
    for (const file of files) {
      const text = textOf(file);
      if (text !== null) for (const p of problemsIn(text, forbidden)) problems.push(`${file} ${p}`);
    }
    assert.deepEqual(problems, [], 'use a path relative to the file (new URL(..., import.meta.url)) and copy the material into the repository');
  });

  it('the walk used without git sees every file git lists', { skip: fromGit === null && 'git unavailable' }, () => {
    const walked = new Set(walkFiles());
    const missing = (fromGit ?? []).filter((f) => existsSync(join(ROOT, f)) && !walked.has(f));
    assert.deepEqual(missing, []);
  });

  it('every fixture folder imported from elsewhere has a SOURCE.md naming its origin and licence', () => {
    const folders = readdirSync(FIXTURES).filter((name) => statSync(join(FIXTURES, name)).isDirectory());
    assert.ok(folders.includes('conformance') && folders.includes('admission'), 'the imported corpora are in the repository');
    const problems: string[] = [];
    for (const folder of folders) {
      if (AUTHORED_FIXTURES.has(folder)) continue;
      const source = join(FIXTURES, folder, 'SOURCE.md');
      const where = relative(ROOT, source);
      if (!existsSync(source)) {
        problems.push(`${where} is missing (or add "${folder}" to AUTHORED_FIXTURES if it was written here)`);
        continue;
      }
      const text = readFileSync(source, 'utf8');
      if (!/licen[cs]e/i.test(text)) problems.push(`${where} names no licence`);
      if (!/https:\/\/\S+/.test(text)) problems.push(`${where} links to no upstream`);
    }
    assert.deepEqual(problems, []);
  });
});
