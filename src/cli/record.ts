/** `tracegate record`: the recorder controller, until SIGTERM/SIGINT. */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { TracegateError } from '../errors.js';
import { createLogger } from '../log.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { DEFAULT_LEADER_TIMING } from '../recorder/leader.js';
import { startRecorder } from '../recorder/run.js';
import type { CliIo } from './io.js';
import { loadKubeConfig } from './kube-client.js';

export const RECORD_USAGE = `Usage: tracegate record [options]

Watch Deployments and record every pod-template change as a Helm release revision (Secret driver),
so helm history and helm rollback cover changes made outside Helm. Replicas elect a leader through a
Lease; only the leader writes.

Options:
      --kubeconfig FILE        kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  -n, --namespace NS           watch only this namespace (repeatable; default: all)
      --history-max N          revisions kept per release, like helm --history-max (10; 0 = unlimited)
      --lease-namespace NS     namespace of the leader Lease ($POD_NAMESPACE or tracegate)
      --lease-name NAME        Lease name (tracegate-recorder)
      --identity ID            this replica's identity in the Lease ($POD_NAME or the host name)
      --metrics-port N         port for /healthz, /readyz and /metrics (8080)
      --annotation-prefix P    prefix of tracegate's annotations (tracegate.io/)
      --log-level LEVEL        pino level (info)
  -h, --help                   show this help
`;

function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new TracegateError('USAGE', `--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Runs the recorder; returns the exit code after a termination signal. */
export async function runRecordCommand(args: string[], io: CliIo, signals: NodeJS.EventEmitter = process): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', short: 'n', multiple: true },
      'history-max': { type: 'string' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'metrics-port': { type: 'string' },
      'annotation-prefix': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(RECORD_USAGE);
    return 0;
  }
  const log = createLogger({ level: values['log-level'] ?? io.env.TRACEGATE_LOG_LEVEL ?? 'info', name: 'tracegate-recorder' });
  const running = await startRecorder({
    kubeConfig: loadKubeConfig(values.kubeconfig, io),
    log,
    config: {
      namespaces: values.namespace ?? [],
      prefix: values['annotation-prefix'] ?? DEFAULT_ANNOTATION_PREFIX,
      historyMax: intOption('history-max', values['history-max'], 10),
      metricsPort: intOption('metrics-port', values['metrics-port'], 8080),
      metricsHost: '0.0.0.0',
      lease: {
        namespace: values['lease-namespace'] ?? io.env.POD_NAMESPACE ?? 'tracegate',
        name: values['lease-name'] ?? 'tracegate-recorder',
        identity: values.identity ?? io.env.POD_NAME ?? hostname(),
        ...DEFAULT_LEADER_TIMING,
      },
    },
  });
  return new Promise<number>((done) => {
    const stop = () => void running.stop().then(() => done(0));
    signals.once('SIGTERM', stop);
    signals.once('SIGINT', stop);
  });
}
