/**
 * Composition root of the `tracegate` binary: wires process I/O into the CLI and exits with its code.
 * Each heavy command's module is imported only when that command runs, so `serve` never loads what
 * `record`, `history` and `rollback` need (@kubernetes/client-node costs the gate tens of MB of RSS).
 */
import { createCli } from './cli/main.js';
import { readStream } from './cli/io.js';

const run = createCli({
  serve: async (args, io) => (await import('./cli/serve.js')).runServeCommand(args, io),
  record: async (args, io) => (await import('./cli/record.js')).runRecordCommand(args, io),
  history: async (args, io) => (await import('./cli/history.js')).runHistoryCommand(args, io),
  rollback: async (args, io) => (await import('./cli/rollback.js')).runRollbackCommand(args, io),
});
const code = await run(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: () => readStream(process.stdin),
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
