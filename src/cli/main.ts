/** Command dispatch for the `tracegate` binary. Commands return exit codes; only main.ts exits. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorTable, isTracegateError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { runCertsCommand } from './certs.js';
import { runCheckCommand } from './check.js';
import type { CliIo } from './io.js';
import { runPoliciesCommand } from './policies.js';

export const USAGE = `Usage: tracegate COMMAND [options]

Commands:
  serve      run the admission webhook (HTTPS)
  record     record every Deployment change as a Helm release revision
  history    show a Deployment's recorded history with provenance
  rollback   restore a recorded revision (like helm rollback)
  check      evaluate manifests against the policies, offline (for CI)
  certs      issue the webhook's CA and serving certificate (and a kustomize overlay)
  policies   list the enforced policies with versions and digests
  version    print the version

Run 'tracegate COMMAND --help' for a command's options.
`;

/** The package version, read once from package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export type Command = (args: string[], io: CliIo) => Promise<number>;

/** Builds the CLI; `extra` lets the composition root add commands with heavier dependencies (serve, record). */
export function createCli(extra: Readonly<Record<string, Command>> = {}) {
  const version = packageVersion();
  const commands: Record<string, Command> = {
    check: (args, io) => runCheckCommand(args, io, version),
    certs: (args, io) => runCertsCommand(args, io),
    policies: runPoliciesCommand,
    version: async (_args, io) => (io.stdout(`tracegate ${version}\n`), 0),
    ...extra,
  };

  /** Runs one command line; never throws: errors become a message on stderr and an exit code. */
  return async function run(argv: string[], io: CliIo): Promise<number> {
    const [name, ...rest] = argv;
    if (!name || name === 'help' || name === '--help' || name === '-h') {
      io.stdout(USAGE);
      return name ? 0 : 2;
    }
    const command = commands[name];
    if (!command) {
      io.stderr(`tracegate: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
      return 2;
    }
    try {
      return await command(rest, io);
    } catch (err) {
      if (isTracegateError(err)) {
        io.stderr(`tracegate ${name}: ${err.message}\n`);
        return err.exitCode;
      }
      // parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION for bad flags.
      const code = (err as { code?: string }).code;
      if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
        io.stderr(`tracegate ${name}: ${(err as Error).message}\nRun 'tracegate ${name} --help' for usage.\n`);
        return errorTable.USAGE.exit;
      }
      io.stderr(`tracegate ${name}: internal error: ${(err as Error).stack ?? String(err)}\n`);
      return 1;
    }
  };
}
