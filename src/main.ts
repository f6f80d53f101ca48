/** Composition root of the `tracegate` binary: wires process I/O into the CLI and exits with its code. */
import { createCli } from './cli/main.js';
import { runHistoryCommand } from './cli/history.js';
import { runRecordCommand } from './cli/record.js';
import { runRollbackCommand } from './cli/rollback.js';
import { runServeCommand } from './cli/serve.js';
import { readStream } from './cli/io.js';

const run = createCli({
  serve: (args, io) => runServeCommand(args, io),
  record: (args, io) => runRecordCommand(args, io),
  history: runHistoryCommand,
  rollback: runRollbackCommand,
});
const code = await run(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: () => readStream(process.stdin),
  env: process.env,
  cwd: process.cwd(),
});
process.exitCode = code;
