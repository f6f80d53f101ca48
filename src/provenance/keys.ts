/**
 * The provenance keys on disk: a directory holding `<id>.key` files (base64 of at least 32 random bytes)
 * and, when there is more than one, a `current` file naming the signing key — the shape of a Kubernetes
 * Secret mounted as a volume, so rotation is: add the new key, let every pod see it, switch `current`,
 * later remove the old one. The gate and the recorder read the same Secret.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../certs/files.js';
import { TracegateError } from '../errors.js';
import { checkMacKey, createMacKeyring, MIN_KEY_BYTES, type MacKey, type MacKeyring } from './mac.js';

/** The file naming the signing key. */
const CURRENT = 'current';
const KEY_SUFFIX = '.key';
/** Secret material: owner-only. */
const KEY_MODE = 0o600;

function fail(message: string): never {
  throw new TracegateError('PROVENANCE_KEY', message);
}

/** Reads a keyring from `dir` (see the module comment); every problem names the file. */
export async function loadKeyring(dir: string): Promise<MacKeyring> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    fail(`cannot read the provenance key directory ${dir}: ${(err as Error).message}`);
  }
  const keys: MacKey[] = [];
  for (const name of names.filter((n) => n.endsWith(KEY_SUFFIX)).sort()) {
    const text = (await readFile(join(dir, name), 'utf8')).trim();
    const secret = Buffer.from(text, 'base64');
    if (!/^[A-Za-z0-9+/=\s]+$/.test(text) || secret.length === 0) fail(`${join(dir, name)}: not base64`);
    const key = { id: name.slice(0, -KEY_SUFFIX.length), secret };
    const problem = checkMacKey(key);
    if (problem) fail(`${join(dir, name)}: ${problem}`);
    keys.push(key);
  }
  if (!keys.length) fail(`no provenance keys (*${KEY_SUFFIX}) in ${dir}`);
  let current = keys.length === 1 ? keys[0]!.id : undefined;
  if (names.includes(CURRENT)) current = (await readFile(join(dir, CURRENT), 'utf8')).trim();
  if (current === undefined) fail(`${dir} holds ${keys.length} keys: name the signing one in ${join(dir, CURRENT)}`);
  const signing = keys.find((k) => k.id === current);
  if (!signing) fail(`${join(dir, CURRENT)} names key ${JSON.stringify(current)}, which is not in ${dir}`);
  return createMacKeyring([signing, ...keys.filter((k) => k !== signing)]);
}

/** A new key's file content: base64 of MIN_KEY_BYTES random bytes. */
export function newKeyText(): string {
  return `${randomBytes(MIN_KEY_BYTES).toString('base64')}\n`;
}

/**
 * Development default (`npm start`): the keyring in `dir`, created with one random key on first use and
 * reused afterwards, as the development certificates are.
 */
export async function ensureDevKeyring(dir: string): Promise<{ keyring: MacKeyring; created: boolean }> {
  const existing = await readdir(dir).catch(() => [] as string[]);
  if (existing.some((n) => n.endsWith(KEY_SUFFIX))) return { keyring: await loadKeyring(dir), created: false };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeAtomic(join(dir, `dev${KEY_SUFFIX}`), newKeyText(), KEY_MODE);
  return { keyring: await loadKeyring(dir), created: true };
}
