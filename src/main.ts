#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 --max-old-space-size=256 --liftoff-only
// Node flags for bounded memory (issue 5; measured in test/pipeline/memory-cli.test.ts and the soak):
// - heap: with V8's defaults RSS reaches ~135 MB while 1M records wait on disk, with these ~85 MB;
// - --liftoff-only: undici's first request compiles its llhttp WebAssembly with TurboFan, a ~37 MB
//   transient peak; the baseline compiler is plenty for one Duo API request a second.
// - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (TLS, libuv's file reads) its own
//   malloc arena; two arenas cut ~6 MB of fragmented RSS at full speed and cost nothing measurable.
// - MALLOC_MMAP_THRESHOLD_=131072: buffers of 128 KiB and more (file chunks, queue batches, the
//   route thread's batch buffers) are mapped and unmapped on their own instead of glibc raising the
//   threshold and keeping freed ones in the arena (~2 MB at full speed, more while catching up).
// V8 reads them only at start (v8.setFlagsFromString is too late), hence the shebang; the systemd
// unit repeats the heap flags in NODE_OPTIONS (which refuses --liftoff-only). `env -S`: coreutils ≥ 8.30.
import { startConfigEarly } from './cli/early-config.js';

// A reader that stops early (`duo-relay check-config | head`) closes the pipe: that is no crash. The
// stdout destination still gets the error in its write callback and reports what was not delivered.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const argv = process.argv.slice(2);
// The config thread boots while the CLI's modules load (cli/early-config.ts).
const early = startConfigEarly(argv);
const { main } = await import('./cli/index.js');

main(argv, undefined, early).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`duo-relay: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
