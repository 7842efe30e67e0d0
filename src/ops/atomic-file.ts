import { open, rename, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Durable replace (house style 11): write a temp file, fsync it, rename it over the target,
 * fsync the directory. A crash leaves either the old or the new content, never a torn file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some file systems refuse fsync on a directory (EINVAL); the rename is still atomic there.
  } finally {
    await dh.close();
  }
}
