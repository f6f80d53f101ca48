/**
 * Mixed-script detection after UTS #39 (Unicode Security Mechanisms) §5.1: a name whose letters do not
 * share a script — `аlice` with a Cyrillic `а` among Latin letters — is a look-alike of another name.
 * Which script a character belongs to is the JavaScript engine's own Unicode data
 * (`\p{Script_Extensions=…}`, ICU); only the list of script codes to ask about is written here.
 */

/**
 * ISO 15924 codes of the scripts `\p{Script_Extensions=…}` knows (Unicode 17; Common `Zyyy`, Inherited
 * `Zinh`, Unknown `Zzzz` and the `Qaa*` aliases left out). A code the running engine does not know is
 * skipped; a character of a script missing here counts as a script of its own, so it can only make a
 * name mixed, never single-script.
 */
const SCRIPT_CODES = [
  'Adlm', 'Aghb', 'Ahom', 'Arab', 'Armi', 'Armn', 'Avst', 'Bali', 'Bamu', 'Bass', 'Batk', 'Beng', 'Berf', 'Bhks', 'Bopo',
  'Brah', 'Brai', 'Bugi', 'Buhd', 'Cakm', 'Cans', 'Cari', 'Cham', 'Cher', 'Chrs', 'Copt', 'Cpmn', 'Cprt', 'Cyrl', 'Deva',
  'Diak', 'Dogr', 'Dsrt', 'Dupl', 'Egyp', 'Elba', 'Elym', 'Ethi', 'Gara', 'Geor', 'Glag', 'Gong', 'Gonm', 'Goth', 'Gran',
  'Grek', 'Gujr', 'Gukh', 'Guru', 'Hang', 'Hani', 'Hano', 'Hatr', 'Hebr', 'Hira', 'Hluw', 'Hmng', 'Hmnp', 'Hung', 'Ital',
  'Java', 'Kali', 'Kana', 'Kawi', 'Khar', 'Khmr', 'Khoj', 'Kits', 'Knda', 'Krai', 'Kthi', 'Lana', 'Laoo', 'Latn', 'Lepc',
  'Limb', 'Lina', 'Linb', 'Lisu', 'Lyci', 'Lydi', 'Mahj', 'Maka', 'Mand', 'Mani', 'Marc', 'Medf', 'Mend', 'Merc', 'Mero',
  'Mlym', 'Modi', 'Mong', 'Mroo', 'Mtei', 'Mult', 'Mymr', 'Nagm', 'Nand', 'Narb', 'Nbat', 'Newa', 'Nkoo', 'Nshu', 'Ogam',
  'Olck', 'Onao', 'Orkh', 'Orya', 'Osge', 'Osma', 'Ougr', 'Palm', 'Pauc', 'Perm', 'Phag', 'Phli', 'Phlp', 'Phnx', 'Plrd',
  'Prti', 'Rjng', 'Rohg', 'Runr', 'Samr', 'Sarb', 'Saur', 'Sgnw', 'Shaw', 'Shrd', 'Sidd', 'Sidt', 'Sind', 'Sinh', 'Sogd',
  'Sogo', 'Sora', 'Soyo', 'Sund', 'Sunu', 'Sylo', 'Syrc', 'Tagb', 'Takr', 'Tale', 'Talu', 'Taml', 'Tang', 'Tavt', 'Tayo',
  'Telu', 'Tfng', 'Tglg', 'Thaa', 'Thai', 'Tibt', 'Tirh', 'Tnsa', 'Todr', 'Tols', 'Toto', 'Tutg', 'Ugar', 'Vaii', 'Vith',
  'Wara', 'Wcho', 'Xpeo', 'Xsux', 'Yezi', 'Yiii',
] as const;

/** One test per script the engine knows; built once. */
const SCRIPT_TESTS: ReadonlyArray<readonly [string, RegExp]> = SCRIPT_CODES.flatMap((code) => {
  try {
    return [[code, new RegExp(`^\\p{Script_Extensions=${code}}$`, 'u')] as const];
  } catch {
    return [];
  }
});

/** Common and Inherited characters (digits, punctuation, combining marks) belong to every script. */
const ANY_SCRIPT_RE = /^[\p{Script_Extensions=Zyyy}\p{Script_Extensions=Zinh}]$/u;
/** ASCII is Latin and Common only: the usual name needs no per-character work. */
const ASCII_RE = /^[\x00-\x7f]*$/;

/**
 * UTS #39 §5.1 augments the Han-related scripts so that the writing systems that mix them count as one:
 * Japanese (`Jpan`: Han, Hiragana, Katakana), Korean (`Kore`: Han, Hangul), Chinese with Bopomofo (`Hanb`).
 */
const AUGMENT: Readonly<Record<string, readonly string[]>> = {
  Hani: ['Hanb', 'Jpan', 'Kore'],
  Hira: ['Jpan'],
  Kana: ['Jpan'],
  Hang: ['Kore'],
  Bopo: ['Hanb'],
};

/**
 * UTS #39 §5.2 "Highly Restrictive": besides a single script, Latin may be mixed with one of these
 * (romaji in a Japanese name, Latin in a Korean or Chinese one) — never with Cyrillic or Greek.
 */
const LATIN_COMBINATIONS: ReadonlyArray<ReadonlySet<string>> = [
  new Set(['Latn', 'Jpan']),
  new Set(['Latn', 'Hanb']),
  new Set(['Latn', 'Kore']),
];

/**
 * A character's augmented script set; null for Common/Inherited (any script). Not memoised: only
 * non-ASCII characters of provenance identities get here, a few per admitted change.
 */
function scriptSetOf(ch: string): readonly string[] | null {
  if (ANY_SCRIPT_RE.test(ch)) return null;
  const found: string[] = [];
  for (const [code, re] of SCRIPT_TESTS) if (re.test(ch)) found.push(code, ...(AUGMENT[code] ?? []));
  if (found.length) return found;
  // A script this engine cannot name is a script of its own.
  return [`U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`];
}

const scriptNames = new Intl.DisplayNames(['en'], { type: 'script', fallback: 'code' });

/** A script code as people name it: `Latn` → `Latin`; codes that are not ISO 15924 stay as they are. */
function scriptName(code: string): string {
  try {
    return scriptNames.of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * The scripts of `text` when it mixes scripts in a way UTS #39's "Highly Restrictive" level refuses
 * (`["Cyrillic", "Latin"]` for `аlice`), else undefined. Single-script names in any script pass, as do
 * Japanese, Korean and Chinese names, also with Latin letters.
 */
export function mixedScripts(text: string): string[] | undefined {
  if (ASCII_RE.test(text)) return undefined;
  const sets: Array<readonly string[]> = [];
  for (const ch of text) {
    const set = scriptSetOf(ch);
    if (set) sets.push(set);
  }
  if (sets.length === 0) return undefined;
  // Resolved script set: the scripts every character belongs to.
  let resolved = new Set(sets[0]);
  for (let i = 1; i < sets.length && resolved.size; i++) {
    const next = new Set(sets[i]);
    resolved = new Set([...resolved].filter((s) => next.has(s)));
  }
  if (resolved.size) return undefined;
  if (LATIN_COMBINATIONS.some((allowed) => sets.every((set) => set.some((s) => allowed.has(s))))) return undefined;
  // Name each character's first (primary) script, in order of appearance.
  return [...new Set(sets.map((set) => scriptName(set[0]!)))];
}
