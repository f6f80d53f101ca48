/**
 * How `npm run image` builds the image from the Dockerfile into an OCI layout in .image/ — with a
 * daemonless builder when there is one (buildah, then podman), else docker buildx (needs a daemon).
 * Pure: which builder and the commands to run; scripts/image.ts runs them.
 */

/** The builders `npm run image` knows, in order of preference. */
export const BUILDERS = ['buildah', 'podman', 'docker'] as const;
export type Builder = (typeof BUILDERS)[number];

/** What to build. */
export interface ImageOptions {
  builder: Builder;
  /** The image's version tag (package.json's version). */
  version: string;
  /** Repository-relative output directory of the OCI layout. */
  outDir: string;
  /** Overrides the Dockerfile's NODE_IMAGE, e.g. a mirror or a local `oci:DIR:TAG` for buildah/podman. */
  baseImage?: string;
  /** The repository the image is tagged with (the chart's image.repository). */
  repository?: string;
}

/** One command: program and arguments, run without a shell. */
export interface Command {
  bin: string;
  args: string[];
}

const DEFAULT_REPOSITORY = 'ghcr.io/tracegate/tracegate';

/**
 * The commands that build the image and leave it as an OCI layout in `outDir` (buildah/podman: an
 * OCI image layout directory with the tag as its ref name; docker: an OCI tarball in it).
 */
export function imageCommands(opts: ImageOptions): Command[] {
  const ref = `${opts.repository ?? DEFAULT_REPOSITORY}:${opts.version}`;
  const buildArgs = opts.baseImage ? ['--build-arg', `NODE_IMAGE=${opts.baseImage}`] : [];
  switch (opts.builder) {
    case 'buildah':
      return [
        // chroot isolation needs no OCI runtime or daemon: it also works inside an unprivileged CI container.
        { bin: 'buildah', args: ['bud', '--isolation', 'chroot', '--layers', ...buildArgs, '-f', 'Dockerfile', '-t', ref, '.'] },
        { bin: 'buildah', args: ['push', ref, `oci:${opts.outDir}:${opts.version}`] },
      ];
    case 'podman':
      return [
        { bin: 'podman', args: ['build', ...buildArgs, '-f', 'Dockerfile', '-t', ref, '.'] },
        { bin: 'podman', args: ['push', ref, `oci:${opts.outDir}:${opts.version}`] },
      ];
    case 'docker':
      return [
        { bin: 'docker', args: ['buildx', 'build', ...buildArgs, '-f', 'Dockerfile', '-t', ref, '--output', `type=oci,dest=${opts.outDir}/tracegate-${opts.version}.oci.tar`, '.'] },
      ];
  }
}
