/**
 * File identity for the authproxy tailer. A file is `dev:ino` plus a SHA-256 of its first
 * `fingerprint_bytes` bytes: the inode alone is not enough (a deleted file's inode is handed to
 * the next new file), and content alone is not enough (two files may start with the same line).
 * A file shorter than the fingerprint length is hashed as far as it goes; the hash is widened
 * as it grows, so an identity always records how many bytes it covers (`fpLen`).
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** The in-memory key of a file: device and inode, as decimal strings (64-bit safe). */
export function fileKey(dev: bigint, ino: bigint): string {
  return `${dev}:${ino}`;
}

/** SHA-256 (hex) of the first `length` bytes of `head`. The caller checks `head` is long enough. */
export function hashPrefix(head: Uint8Array, length: number): string {
  return createHash('sha256').update(head.subarray(0, length)).digest('hex');
}

/** True when `head` starts with the `fpLen` bytes whose hash is `fp`. */
export function prefixMatches(head: Uint8Array, fpLen: number, fp: string): boolean {
  return head.length >= fpLen && hashPrefix(head, fpLen) === fp;
}

/**
 * Reads up to `bytes` bytes from the start of the file (fewer when the file is shorter).
 * A short read is retried until EOF, because `read` may return less than asked on any file system.
 */
export async function readHead(fh: FileHandle, bytes: number): Promise<Buffer> {
  const buf = Buffer.alloc(bytes);
  let got = 0;
  // Bounded: every round either grows `got` or stops at EOF.
  while (got < bytes) {
    const { bytesRead } = await fh.read(buf, got, bytes - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === bytes ? buf : buf.subarray(0, got);
}
