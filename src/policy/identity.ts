/**
 * Identity text as people read it. Annotations are client-asserted, so an approver can be written to
 * look like someone else (`alice\u200b`, `аlice` with a Cyrillic а, full-width `ａｌｉｃｅ`) or to look
 * unlike the requester while naming them. Three tools:
 * - {@link invisibleCharacters}: control, format and other invisible code points, refused in provenance
 *   values and shown escaped ({@link escapeInvisible}: `alice\u200b`);
 * - {@link identityKey}: the form in which two names that read alike are equal (for separation of duties,
 *   where "same" is the safe answer);
 * - exact comparison for allow-lists (trusted users and groups), where a look-alike must never match.
 * Case folding is Unicode full case folding (CaseFolding.txt, statuses C+F) from `unicode-case-folding`;
 * look-alikes are mapped with the UTS #39 confusables prototypes (confusables.txt) from `unhomoglyph`.
 */
import { caseFold } from 'unicode-case-folding';
import unhomoglyph from 'unhomoglyph';
import { mixedScripts } from './scripts.js';

/**
 * Code points that show nothing or move the text around: controls (Cc), format characters (Cf: zero-width
 * space/joiners, bidi overrides, soft hyphen), Default_Ignorable_Code_Point (U+2060, variation selectors,
 * Hangul fillers), line/paragraph separators, private-use, unassigned and lone surrogates, and every
 * whitespace but the plain space (no-break, ideographic and other spaces that pass for a space).
 */
const INVISIBLE = '[\\p{Cc}\\p{Cf}\\p{Co}\\p{Cn}\\p{Cs}\\p{Zl}\\p{Zp}\\p{Default_Ignorable_Code_Point}]|[^\\S ]';
const INVISIBLE_RE = new RegExp(INVISIBLE, 'u');
const INVISIBLE_G = new RegExp(INVISIBLE, 'gu');
/** Default-ignorable code points: dropped from the comparison form, whatever NFKC kept of them. */
const IGNORABLE_G = /\p{Default_Ignorable_Code_Point}/gu;
/** Combining marks, removed after canonical decomposition: `alice` + U+0301 and `ALİCE` read as alice. */
const MARKS_G = /\p{M}/gu;

/** `\u200b`, `\u{1d400}`: a code point as a JavaScript escape, the way messages show it. */
function escapeCodePoint(ch: string): string {
  const cp = ch.codePointAt(0)!;
  // Beyond the Basic Multilingual Plane a code point needs the braced form.
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** The invisible characters of `text`, each escaped (`['\\u200b']`), in order; empty when there are none. */
export function invisibleCharacters(text: string): string[] {
  if (!INVISIBLE_RE.test(text)) return [];
  return [...new Set(text.match(INVISIBLE_G) ?? [])].map(escapeCodePoint);
}

/** `text` with every invisible character escaped: `alice\u200b`. */
export function escapeInvisible(text: string): string {
  return INVISIBLE_RE.test(text) ? text.replace(INVISIBLE_G, escapeCodePoint) : text;
}

/**
 * Why `text` cannot name a person (or a commit, or a pipeline run), or undefined when it can: it holds
 * invisible characters, or (for identities) it mixes scripts the way look-alikes do. `what` names the
 * value in the message: `approver "alice\u200b" contains the invisible character \u200b`.
 */
export function unreadableValue(what: string, text: string, identity: boolean): string | undefined {
  const hidden = invisibleCharacters(text);
  if (hidden.length) {
    return `${what} "${escapeInvisible(text)}" contains the invisible or control character${hidden.length > 1 ? 's' : ''} ${hidden.join(' ')}`;
  }
  const scripts = identity ? mixedScripts(text.normalize('NFKC')) : undefined;
  if (scripts) return `${what} "${text}" mixes scripts (${scripts.join(', ')}), as look-alike names do`;
  return undefined;
}

/**
 * The comparison form of a name: two names people would read as the same have the same key.
 * 1. NFKC: compatibility forms become plain ones (`ａｌｉｃｅ` → `alice`, `ﬁ` → `fi`).
 * 2. Default-ignorable code points are removed (U+200B, U+00AD, U+2060, variation selectors…).
 * 3. Full Unicode case folding (`ALİCE` → `ali̇ce`, `ß` and `ẞ` → `ss`, final `ς` → `σ`), then canonical
 *    decomposition and removal of every combining mark (`é` → `e`, `i̇` → `i`).
 * 4. The UTS #39 skeleton: each character mapped to its confusables prototype (Cyrillic `а` → `a`,
 *    `ο` → `o`, `rn` stays, `m` → `rn`), decomposed again with marks removed, and case-folded once more
 *    (some prototypes are capitals: `0` → `O`).
 * Keys are for comparison only, never shown: `mike` keys as `rnike`.
 */
export function identityKey(text: string): string {
  const plain = text.normalize('NFKC').replace(IGNORABLE_G, '');
  const folded = caseFold(plain).normalize('NFD').replace(MARKS_G, '');
  const skeleton = unhomoglyph(folded).normalize('NFD').replace(MARKS_G, '');
  return caseFold(skeleton).trim();
}

/** The part before the first `@` (the whole text without one). */
function localPart(form: string): string {
  const at = form.indexOf('@');
  return at < 0 ? form : form.slice(0, at);
}

/** Adds a form once; an empty one (`@example.com` has an empty local part) names nobody. */
function addForm(forms: string[], form: string): void {
  if (form && !forms.includes(form)) forms.push(form);
}

/**
 * The forms one identity takes, as keys: as given, without an authenticator prefix (`oidc:alice`,
 * `https://issuer#alice`, `system:serviceaccount:ns:deployer`), and each without its email domain.
 */
function identityForms(id: string): string[] {
  const forms: string[] = [];
  const full = identityKey(id);
  if (!full) return forms;
  const bare = full.slice(Math.max(full.lastIndexOf('#'), full.lastIndexOf(':')) + 1);
  addForm(forms, full);
  addForm(forms, bare);
  addForm(forms, localPart(full));
  addForm(forms, localPart(bare));
  return forms;
}

/**
 * True when `approver` names the same person as the requesting user: their {@link identityKey}s are
 * compared on the full names, the names without an authenticator prefix, and the parts before `@`.
 * Erring towards "same" is safe here because it only ever asks for another approver.
 */
export function sameIdentity(approver: string, username: string): boolean {
  const u = identityForms(username);
  const a = identityForms(approver);
  for (let i = 0; i < a.length; i++) if (u.includes(a[i]!)) return true;
  return false;
}
