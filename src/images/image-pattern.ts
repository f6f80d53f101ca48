/**
 * Image patterns for allow-lists, deny-lists and exemptions. An entry is normalised the way images are
 * (`nginx` → `docker.io/library/nginx`) and compared with the parsed image, never as raw strings, so
 * lookalikes such as `myregistry.azurecr.io.malicious.com/x` cannot pass `myregistry.azurecr.io/*`.
 */
import type { Parsed } from '../errors.js';
import {
  DOCKER_HUB,
  checkPathComponents,
  checkShape,
  isRegistryLike,
  normalizeRegistry,
  parseImageRef,
  type ImageRef,
} from './image-ref.js';

/**
 * How a pattern compares: `prefix` = repository starts with a path ending in `/`; `repository` = same
 * repository, any tag or digest; `reference` = same normalised reference; `glob` = `*` wildcards over it.
 */
export type ImagePatternKind = 'prefix' | 'repository' | 'reference' | 'glob';

/** A compiled image pattern: compile once, match many. */
export interface ImagePattern {
  /** The entry as the policy wrote it. */
  readonly source: string;
  readonly kind: ImagePatternKind;
  /** The entry normalised: `docker.io/openpolicyagent/`, `docker.io/library/nginx`, `docker.io/team/*`. */
  readonly normalized: string;
  matches(ref: ImageRef): boolean;
}

const OFFICIAL_NAMESPACE = 'library/';

/**
 * Compiles one policy entry (semantics in {@link ImagePatternKind}): `*` anywhere → glob; trailing `/` →
 * prefix; a bare registry host (`registry.example.com`, `localhost:5000`) → prefix `<host>/`; a tag or
 * digest → reference; anything else → repository.
 */
export function compileImagePattern(entry: string): Parsed<ImagePattern> {
  const shape = checkShape(entry, 'image pattern', true);
  if (shape) return fail(shape);
  if (entry.includes('*')) return compileGlob(entry);
  if (entry.endsWith('/')) return compilePrefix(entry);

  const host = bareRegistryHost(entry);
  if (host !== undefined) return ok(entry, 'prefix', `${host}/`, prefixMatcher(`${host}/`));

  const parsed = parseImageRef(entry);
  if (!parsed.ok) return parsed;
  const target = parsed.value;
  if (target.tag !== undefined || target.digest !== undefined) {
    return ok(entry, 'reference', target.normalized, (ref) => ref.normalized === target.normalized);
  }
  return ok(entry, 'repository', target.repository, (ref) => ref.repository === target.repository);
}

/** Compiles every entry; the first invalid one fails the lot, named by index and text. */
export function compileImagePatterns(entries: readonly string[]): Parsed<readonly ImagePattern[]> {
  const out: ImagePattern[] = [];
  for (const [i, entry] of entries.entries()) {
    const p = compileImagePattern(entry);
    if (!p.ok) return fail(`image pattern ${i} (${JSON.stringify(entry)}): ${p.error}`);
    out.push(p.value);
  }
  return { ok: true, value: Object.freeze(out) };
}

/** The first pattern that matches `ref`, or undefined; returning it lets callers say which entry applied. */
export function matchesAny(patterns: readonly ImagePattern[], ref: ImageRef): ImagePattern | undefined {
  // A loop, not find(): no closure per image judged.
  for (let i = 0; i < patterns.length; i++) if (patterns[i]!.matches(ref)) return patterns[i];
  return undefined;
}

function compilePrefix(entry: string): Parsed<ImagePattern> {
  const body = entry.slice(0, -1);
  if (body === '') return fail("a prefix pattern needs a registry or namespace before the '/'");
  const components = body.split('/');
  if (components.includes('')) return fail("image pattern contains an empty path component ('//' or a leading '/')");

  const [first = '', ...rest] = components;
  let registry = DOCKER_HUB;
  let path = components;
  // Unlike a full name, a lone component here is followed by '/', so `k8s.gcr.io/` is a registry.
  if (isRegistryLike(first)) {
    const host = normalizeRegistry(first);
    if (!host.ok) return host;
    registry = host.value;
    path = rest;
  }
  const pathError = checkPathComponents(path);
  if (pathError) return fail(pathError);
  const prefix = `${[registry, ...path].join('/')}/`;
  return ok(entry, 'prefix', prefix, prefixMatcher(prefix));
}

function prefixMatcher(prefix: string): (ref: ImageRef) => boolean {
  // `prefix` ends in '/', so startsWith is a path-boundary test: `team-a/` never matches `team-ab/x`.
  return (ref) => ref.repository.startsWith(prefix);
}

/**
 * A lone registry host: a dotted name, `localhost` or `[ipv6]`, with an optional numeric port. The dot
 * must come before any ':' so `ubuntu:20.14` stays an image with a tag.
 */
function bareRegistryHost(entry: string): string | undefined {
  if (entry.includes('/') || entry.includes('@')) return undefined;
  const m = /^(\[[a-fA-F0-9:]+\]|[^:]+)(?::[0-9]+)?$/.exec(entry);
  const name = m?.[1];
  if (name === undefined || !(name.startsWith('[') || name.includes('.') || name === 'localhost')) return undefined;
  const host = normalizeRegistry(entry);
  return host.ok ? host.value : undefined;
}

function compileGlob(entry: string): Parsed<ImagePattern> {
  if (entry.startsWith('/')) return fail("image pattern must not start with '/'");
  if (entry.includes('//')) return fail("image pattern contains an empty path component ('//')");
  if (entry.indexOf('@') !== entry.lastIndexOf('@')) return fail("more than one '@'");

  const normalized = normalizeGlob(entry);
  if (!normalized.ok) return normalized;
  const matches = globMatcher(normalized.value);
  return ok(entry, 'glob', normalized.value, (ref) => matches(ref.normalized));
}

/**
 * Matches `*` globs by locating the literal pieces left to right. A backtracking RegExp (`^a.*b.*c$`)
 * costs length^stars on a near miss, so one policy entry like `*a*a*a*a*a*b` would stall every admission;
 * the leftmost-greedy search is exact for `*`-only globs and linear in pieces × length.
 */
function globMatcher(glob: string): (value: string) => boolean {
  const pieces = glob.split(/\*+/);
  if (pieces.length === 1) return (value) => value === glob;
  const head = pieces[0] ?? '';
  const tail = pieces.at(-1) ?? '';
  const middle = pieces.slice(1, -1);
  return (value) => {
    if (value.length < head.length + tail.length || !value.startsWith(head) || !value.endsWith(tail)) return false;
    const end = value.length - tail.length;
    let pos = head.length;
    for (const piece of middle) {
      const at = value.indexOf(piece, pos);
      if (at === -1 || at + piece.length > end) return false;
      pos = at + piece.length;
    }
    return true;
  };
}

/** Normalises the literal part of a glob before its first `*`, as the image it stands for would be. */
function normalizeGlob(entry: string): Parsed<string> {
  const star = entry.indexOf('*');
  // A leading '*' leaves nothing to normalise: the author spelled out the whole normalised form.
  if (star === 0) return { ok: true, value: entry };

  const slash = entry.indexOf('/');
  if (slash === -1) {
    const hostEnd = entry.startsWith('[') ? entry.indexOf(']') + 1 || entry.length : entry.indexOf(':');
    const hostPart = hostEnd === -1 ? entry : entry.slice(0, hostEnd);
    if (hostPart.startsWith('[') || hostPart.includes('.') || hostPart === 'localhost') {
      return { ok: true, value: hostPart.toLowerCase() + entry.slice(hostPart.length) };
    }
    const err = checkPathLiteral(entry.slice(0, star));
    return err ? fail(err) : { ok: true, value: `${DOCKER_HUB}/${OFFICIAL_NAMESPACE}${entry}` };
  }

  const first = entry.slice(0, slash);
  const rest = entry.slice(slash + 1);
  if (!isRegistryLike(first)) {
    const err = checkPathLiteral(entry.slice(0, star));
    return err ? fail(err) : { ok: true, value: `${DOCKER_HUB}/${entry}` };
  }
  // A '*' inside the host leaves nothing checkable but its case.
  if (first.includes('*')) return { ok: true, value: `${first.toLowerCase()}/${rest}` };

  const host = normalizeRegistry(first);
  if (!host.ok) return host;
  const err = checkPathLiteral(entry.slice(slash + 1, star));
  if (err) return fail(err);
  // `docker.io/nginx*` means official images, as `docker.io/nginx` does; `docker.io/*` means all of Hub.
  const official = host.value === DOCKER_HUB && !rest.includes('/') && !rest.startsWith('*');
  return { ok: true, value: `${host.value}/${official ? OFFICIAL_NAMESPACE : ''}${rest}` };
}

/**
 * Checks the repository path text before a glob's first `*`: whole components must be valid, and the
 * partial last one (up to any tag or digest) lowercase, or the pattern could never match.
 */
function checkPathLiteral(literal: string): string | undefined {
  const components = literal.split('/');
  const partial = (components.pop() ?? '').split(/[:@]/)[0] ?? '';
  const err = checkPathComponents(components);
  if (err) return err;
  if (/[A-Z]/.test(partial)) return `repository path must be lowercase: ${JSON.stringify(partial)}`;
  if (!/^[a-z0-9._-]*$/.test(partial)) return `invalid repository path text ${JSON.stringify(partial)}`;
  return undefined;
}

function ok(
  source: string,
  kind: ImagePatternKind,
  normalized: string,
  matches: (ref: ImageRef) => boolean,
): Parsed<ImagePattern> {
  return { ok: true, value: Object.freeze({ source, kind, normalized, matches }) };
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}
