/** The disk queue's coded errors: each names the queue directory and what to do. */
import { ErrorCodes, RelayError, errorMessage, systemCode } from '../errors.js';

export function closedError(dir: string): RelayError {
  return new RelayError(ErrorCodes.CLOSED, `Disk queue ${dir} is closed.`);
}

/** Maps a file-system failure: a full disk is DR_ERR_QUEUE_FULL (retry later), anything else DR_ERR_QUEUE_IO. */
export function ioError(err: unknown, dir: string, doing: string): RelayError {
  if (err instanceof RelayError) return err;
  const code = systemCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new RelayError(
      ErrorCodes.QUEUE_FULL,
      `No space left on the device holding disk queue ${dir} (${code}) while ${doing}; free disk space or lower queue.max_bytes. Retry later.`,
      { cause: err },
    );
  }
  return new RelayError(ErrorCodes.QUEUE_IO, `Disk queue ${dir} failed while ${doing}: ${errorMessage(err)}; check the disk and the permissions of state_dir.`, { cause: err });
}
