/** Shell-style `*` globs for namespace and tenant names, compiled once to anchored RegExps. */

const REGEX_SPECIAL = /[.+?^${}()|[\]\\]/g;

/** `team-*` → /^team-.*$/ ; a name without `*` matches only itself. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(REGEX_SPECIAL, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${body}$`);
}

/** True when `value` matches any of the compiled globs. */
export function matchesAnyGlob(globs: readonly RegExp[], value: string): boolean {
  return globs.some((g) => g.test(value));
}
