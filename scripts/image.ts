/**
 * `npm run image [-- --builder buildah|podman|docker] [--base-image REF]`: builds the tracegate image
 * from the Dockerfile into an OCI layout in .image/ (gitignored), with the first builder found on PATH
 * (scripts/lib/image.ts). --base-image replaces the Dockerfile's NODE_IMAGE, for a registry mirror or a
 * local copy of node:20.19-bookworm-slim where Docker Hub cannot be reached.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUILDERS, imageCommands, type Builder } from './lib/image.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { builder: { type: 'string' }, 'base-image': { type: 'string' }, out: { type: 'string' } } });

function onPath(bin: string): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}

const wanted = values.builder;
if (wanted !== undefined && !(BUILDERS as readonly string[]).includes(wanted)) {
  process.stderr.write(`--builder must be one of ${BUILDERS.join(', ')}\n`);
  process.exit(2);
}
const builder = (wanted as Builder | undefined) ?? BUILDERS.find(onPath);
if (builder === undefined) {
  process.stderr.write(
    `no image builder found: install buildah (daemonless, e.g. apt-get install buildah), podman, or docker with buildx.\n`,
  );
  process.exit(1);
}
const version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const outDir = values.out ?? '.image';
await mkdir(join(root, outDir), { recursive: true });
const commands = imageCommands({ builder, version, outDir, ...(values['base-image'] ? { baseImage: values['base-image'] } : {}) });
for (const { bin, args } of commands) {
  process.stdout.write(`$ ${bin} ${args.join(' ')}\n`);
  const res = spawnSync(bin, args, { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) {
    process.stderr.write(`${bin} failed (exit ${res.status ?? res.signal}). Without access to Docker Hub, pass --base-image with a mirror or a local copy of the Dockerfile's NODE_IMAGE.\n`);
    process.exit(res.status ?? 1);
  }
}
process.stdout.write(`image ${version}: OCI layout in ${outDir}/\n`);
