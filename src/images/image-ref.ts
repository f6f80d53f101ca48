/**
 * Container image references, parsed the way the container runtime will read them: docker's
 * distribution/reference grammar (`ParseNormalizedNamed`), so a policy decision is made about the image the
 * kubelet actually pulls. Digests follow the OCI image-spec grammar, which is wider than docker's; whether
 * an algorithm is one a runtime can verify is a separate question ({@link REGISTERED_DIGEST_ALGORITHMS}).
 */
import type { Parsed } from '../errors.js';

/** A parsed, normalised image reference. */
export interface ImageRef {
  /** The input exactly as given. */
  raw: string;
  /** Registry host, lowercased: `docker.io` for Docker Hub, `registry:5000`, `localhost`, `[::1]:5000`. */
  registry: string;
  /** Repository path inside the registry: `library/nginx`, `team/app`. */
  path: string;
  /** `registry/path`, e.g. `docker.io/library/nginx`. */
  repository: string;
  /** Tag when one was given; never defaulted to `latest`. */
  tag?: string;
  /** Full digest, `sha256:<hex>` or e.g. `multihash+base58:Qm…`. */
  digest?: string;
  /** The digest's algorithm part: `sha256`, `sha512`, `multihash+base58`, `sha256+b64u`. */
  digestAlgorithm?: string;
  /** `repository[:tag][@digest]`: the canonical form that patterns compare against. */
  normalized: string;
  /** The docker CLI's short form: `nginx:1.27`, `team/app:1.0`, `registry:5000/team/app:1.2`. */
  familiar: string;
}

/** Docker Hub's canonical registry name. */
export const DOCKER_HUB = 'docker.io';
/** Docker's legacy Hub name, normalised to {@link DOCKER_HUB}. */
const LEGACY_DOCKER_HUB = 'index.docker.io';
/** Single-component Hub names live in the `library/` namespace (official images). */
const OFFICIAL_NAMESPACE = 'library/';

// distribution/reference's NameTotalLengthMax.
const NAME_TOTAL_LENGTH_MAX = 255;
// Normalising can shorten a name by at most this much (`index.docker.io` → `docker.io`), so a longer raw
// name is too long whatever it normalises to; checking it first bounds the work the regexes below do.
const MAX_NAME_SHRINK = LEGACY_DOCKER_HUB.length - DOCKER_HUB.length;

// docker's tag grammar; a tag is at most 128 characters.
const TAG_LENGTH_MAX = 128;
const TAG_RE = new RegExp(`^\\w[\\w.-]{0,${TAG_LENGTH_MAX - 1}}$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const DIGEST_ALGORITHM_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;
const DIGEST_ENCODED_RE = /^[a-zA-Z0-9=_-]+$/;
// docker refuses a bare 64-hex name: it would be ambiguous with an image ID.
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;
// Every character any part of a reference may contain; anything else is reported by name.
const REFERENCE_CHARS_RE = /^[A-Za-z0-9._\-/:@+=[\]]*$/;

/** Hex lengths of the digest algorithms whose encoding is fixed (OCI image-spec; sha384 as go-digest). */
const FIXED_HEX_DIGESTS: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

/**
 * The digest algorithms the OCI image-spec registers (descriptor.md, "Registered algorithms"): `sha256`
 * (64 hex) and `sha512` (128 hex). The grammar admits any algorithm name, but distribution/reference's
 * `Parse` (which container runtimes use) hands the digest to go-digest's `digest.Parse`, which refuses an
 * algorithm it does not implement (ErrDigestUnsupported): such a reference pins nothing and cannot be pulled.
 */
export const REGISTERED_DIGEST_ALGORITHMS: readonly string[] = ['sha256', 'sha512'];

/** The repository in the docker CLI's short form, without tag or digest: `nginx`, `team/app`, `ghcr.io/x/y`. */
export function familiarRepositoryName(ref: ImageRef): string {
  return familiarRepository(ref.registry, ref.path);
}

/**
 * Parses an image reference as docker's `ParseNormalizedNamed` does, with OCI digest grammar.
 * Never throws: garbage yields `{ ok: false, error }` naming what is wrong.
 */
export function parseImageRef(raw: string): Parsed<ImageRef> {
  const shape = checkShape(raw, 'image reference');
  if (shape) return fail(shape);
  if (IMAGE_ID_RE.test(raw)) {
    return fail('a 64-character hexadecimal string is an image ID, not a repository name');
  }

  const at = raw.indexOf('@');
  if (at !== -1 && raw.indexOf('@', at + 1) !== -1) return fail("more than one '@'");
  const nameAndTag = at === -1 ? raw : raw.slice(0, at);

  // A ':' before the last '/' is a registry port (`registry:5000/app`), never a tag.
  const colon = nameAndTag.indexOf(':', nameAndTag.lastIndexOf('/') + 1);
  const name = colon === -1 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon === -1 ? undefined : nameAndTag.slice(colon + 1);
  if (name === '') return fail('repository name is empty');
  if (name.length > NAME_TOTAL_LENGTH_MAX + MAX_NAME_SHRINK) return fail(tooLong(name.length));

  const repo = parseRepositoryName(name);
  if (!repo.ok) return repo;
  const { registry, path } = repo.value;
  const repository = `${registry}/${path}`;
  if (repository.length > NAME_TOTAL_LENGTH_MAX) return fail(tooLong(repository.length));

  if (tag !== undefined) {
    const tagError = checkTag(tag);
    if (tagError) return fail(tagError);
  }

  let digest: string | undefined;
  let digestAlgorithm: string | undefined;
  if (at !== -1) {
    const d = parseDigest(raw.slice(at + 1));
    if (!d.ok) return d;
    digest = d.value.digest;
    digestAlgorithm = d.value.algorithm;
  }

  const suffix = (tag === undefined ? '' : `:${tag}`) + (digest === undefined ? '' : `@${digest}`);
  const ref: ImageRef = {
    raw,
    registry,
    path,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest, digestAlgorithm }),
    normalized: repository + suffix,
    familiar: familiarRepository(registry, path) + suffix,
  };
  return { ok: true, value: ref };
}

/** True when the image comes from Docker Hub. */
export function isDockerHub(ref: ImageRef): boolean {
  return ref.registry === DOCKER_HUB;
}

/** The docker CLI's short form of `ref` (`nginx:1.27`, not `docker.io/library/nginx:1.27`). */
export function familiarName(ref: ImageRef): string {
  return ref.familiar;
}

/**
 * Splits a repository name (no tag, no digest) into normalised registry and path, as docker does:
 * `nginx` → docker.io + library/nginx, `team/app` → docker.io + team/app, `ghcr.io/x/y` → ghcr.io + x/y.
 */
export function parseRepositoryName(name: string): Parsed<{ registry: string; path: string }> {
  const components = name.split('/');
  const emptyError = checkNoEmptyComponent(components);
  if (emptyError) return fail(emptyError);

  const [first = '', ...rest] = components;
  let registry = DOCKER_HUB;
  let pathComponents = components;
  if (rest.length > 0 && isRegistryLike(first)) {
    const host = normalizeRegistry(first);
    if (!host.ok) return host;
    registry = host.value;
    pathComponents = rest;
  }
  const pathError = checkPathComponents(pathComponents);
  if (pathError) return fail(pathError);

  let path = pathComponents.join('/');
  if (registry === DOCKER_HUB && pathComponents.length === 1) path = OFFICIAL_NAMESPACE + path;
  return { ok: true, value: { registry, path } };
}

/**
 * Docker's rule for the first `/`-separated component of a multi-component name: it is a registry host
 * when it contains `.` or `:` or is exactly `localhost`; otherwise it is a Docker Hub namespace.
 */
export function isRegistryLike(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/**
 * Validates a registry host (`name[:port]`, IPv4, `[ipv6][:port]`) and normalises it: lowercased, because
 * host names are case-insensitive and `K8S.GCR.IO` must not slip past a `k8s.gcr.io/` deny-list; and
 * `index.docker.io` → `docker.io`.
 */
export function normalizeRegistry(host: string): Parsed<string> {
  if (!HOST_RE.test(host)) {
    return fail(`invalid registry host ${JSON.stringify(host)}: expected host[:port] or [ipv6][:port]`);
  }
  const lower = host.toLowerCase();
  return { ok: true, value: lower === LEGACY_DOCKER_HUB ? DOCKER_HUB : lower };
}

/** Error message when any repository path component is invalid, else undefined. */
export function checkPathComponents(components: readonly string[]): string | undefined {
  for (const c of components) {
    if (PATH_COMPONENT_RE.test(c)) continue;
    if (/[A-Z]/.test(c)) {
      return `repository path must be lowercase: ${JSON.stringify(c)}`;
    }
    return (
      `invalid repository path component ${JSON.stringify(c)}: ` +
      'use lowercase letters and digits, separated by ".", "_", "__" or "-"'
    );
  }
  return undefined;
}

/**
 * Error message when `value` is not a single clean token (empty, whitespace, URL, odd characters), else
 * undefined. `allowStar` admits `*` for image patterns.
 */
export function checkShape(value: unknown, what: string, allowStar = false): string | undefined {
  if (typeof value !== 'string') return `${what} must be a string`;
  if (value === '') return `${what} is empty`;
  if (/^\s|\s$/.test(value)) return `${what} has leading or trailing whitespace`;
  if (/\s/.test(value)) return `${what} contains whitespace`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    return `${what} must not include a URL scheme (${JSON.stringify(value.slice(0, value.indexOf('://') + 3))})`;
  }
  const allowed = (ch: string): boolean => (allowStar && ch === '*') || REFERENCE_CHARS_RE.test(ch);
  if (!REFERENCE_CHARS_RE.test(allowStar ? value.replaceAll('*', '') : value)) {
    const bad = [...value].find((ch) => !allowed(ch)) ?? '';
    return `${what} contains the invalid character ${JSON.stringify(bad)}`;
  }
  return undefined;
}

function checkNoEmptyComponent(components: readonly string[]): string | undefined {
  if (components[0] === '') return "repository name must not start with '/'";
  if (components.at(-1) === '') return "repository name must not end with '/'";
  if (components.includes('')) return "repository name contains an empty path component ('//')";
  return undefined;
}

function checkTag(tag: string): string | undefined {
  if (tag === '') return "tag is empty (nothing after ':')";
  if (TAG_RE.test(tag)) return undefined;
  if (tag.length > TAG_LENGTH_MAX) return `tag is longer than ${TAG_LENGTH_MAX} characters (${tag.length})`;
  return (
    `invalid tag ${JSON.stringify(tag)}: a tag is a letter, digit or "_" followed by up to ${TAG_LENGTH_MAX - 1} ` +
    'letters, digits, "_", "." or "-"'
  );
}

function parseDigest(digest: string): Parsed<{ digest: string; algorithm: string }> {
  if (digest === '') return fail("digest is empty (nothing after '@')");
  const colon = digest.indexOf(':');
  if (colon === -1) return fail(`digest ${JSON.stringify(digest)} must be <algorithm>:<encoded>`);
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!DIGEST_ALGORITHM_RE.test(algorithm)) {
    return fail(
      `invalid digest algorithm ${JSON.stringify(algorithm)}: ` +
        'lowercase letters and digits, joined by "+", ".", "_" or "-"',
    );
  }
  const hexLength = FIXED_HEX_DIGESTS.get(algorithm);
  if (hexLength !== undefined) {
    if (encoded.length !== hexLength || !/^[a-f0-9]*$/.test(encoded)) {
      return fail(
        `${algorithm} digest must be exactly ${hexLength} lowercase hex characters ` +
          `(got ${encoded.length} characters${/^[a-f0-9]*$/.test(encoded) ? '' : ', not all lowercase hex'})`,
      );
    }
  } else if (!DIGEST_ENCODED_RE.test(encoded)) {
    return fail(`invalid ${algorithm} digest ${JSON.stringify(encoded)}: expected letters, digits, "=", "_" or "-"`);
  }
  return { ok: true, value: { digest, algorithm } };
}

function familiarRepository(registry: string, path: string): string {
  if (registry !== DOCKER_HUB) return `${registry}/${path}`;
  const rest = path.slice(OFFICIAL_NAMESPACE.length);
  return path.startsWith(OFFICIAL_NAMESPACE) && !rest.includes('/') ? rest : path;
}

function tooLong(length: number): string {
  return `repository name is longer than ${NAME_TOTAL_LENGTH_MAX} characters (${length})`;
}

function fail(error: string): { ok: false; error: string } {
  return { ok: false, error };
}
