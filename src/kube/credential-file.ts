/** Reading credential and CA files with errors that say which file, and which setting named it. */
import { readFile } from 'node:fs/promises';
import { TracegateError } from '../errors.js';

/**
 * The file's bytes; CONFIG_INVALID naming `what` (e.g. `certificate-authority of cluster "dev" in
 * /home/me/.kube/config`) and the file when it cannot be read. Contents never reach the message.
 */
export async function readCredentialFile(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TracegateError('CONFIG_INVALID', `cannot read ${file} (${what}): ${code}`, { file });
  }
}
