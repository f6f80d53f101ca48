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
  record     record every workload change as a Helm release revision and in its ChangeTrail
  history    show a workload's recorded history with provenance, deleted workloads too
  rollback   restore a recorded revision (like helm rollback)
  check      evaluate manifests against the policies, offline (for CI)
  certs      issue the webhook's CA and serving certificate (and a kustomize overlay)
  policies   list the enforced policies with versions and digests
  approve    sign an approval of a workload change (from a manifest or a live object)
  verify     re-verify a signed approval offline against an object and the public keys
  report     export a tenant's change history for a period (CSV or JSON) with a signed digest
  ui         serve the compliance reviewer's read-only web view (HTTPS, Kubernetes sign-in)
  version    print the version (also --version)

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
    // Loaded when run: jose and client-node stay out of the other commands.
    approve: async (args, io) => (await import('./approve.js')).runApproveCommand(args, io),
    verify: async (args, io) => (await import('./verify.js')).runVerifyCommand(args, io),
    report: async (args, io) => (await import('./report.js')).runReportCommand(args, io),
    ui: async (args, io) => (await import('./ui.js')).runUiCommand(args, io),
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
    if (name === '--version' || name === '-v') return commands.version!(rest, io);
    // Own keys only: `tracegate constructor` or `toString` is an unknown command, not Object's method.
    const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
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
