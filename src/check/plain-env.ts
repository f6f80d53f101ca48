/**
 * yaml's `Parser` reads `process.env.LOG_TOKENS` once per token, and every read of `process.env` is a
 * getenv() call into C++: 4.0 M tokens in the 10,000-document benchmark = 1.15 s of 5.2 s parse CPU
 * (bench/README.md, check CLI). Parsing against a plain copy of the environment — the same values, read
 * as an object — removes that. `process.env` is an ordinary writable property of `process`; the copy is
 * in place only while a synchronous call runs, so no other code ever sees it.
 */

/** Runs synchronous functions with `process.env` as a plain snapshot taken when this is created. */
export function createPlainEnvRunner(): <T>(fn: () => T) => T {
  const snapshot: NodeJS.ProcessEnv = { ...process.env };
  return (fn) => {
    const real = process.env;
    process.env = snapshot;
    try {
      return fn();
    } finally {
      process.env = real;
    }
  };
}
