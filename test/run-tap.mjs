#!/usr/bin/env node
// Runs tap (the owner's test runner) with its plain TAP reporter and ends the output with the
// summary lines node's own runner prints (`# tests N`, `# pass N`, `# fail N`), which CI reads.
// tap's exit code (failures, the coverage gate in .taprc) is kept.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tapBin = fileURLToPath(new URL('../node_modules/.bin/tap', import.meta.url));
const child = spawn(tapBin, ['--reporter=tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
let summary;
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString('utf8')).slice(-65536);
  const lines = tail.split('\n');
  for (const line of lines) {
    const m = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/.exec(line);
    if (m) summary = m;
  }
});
child.on('close', (code, signal) => {
  const [, total = '0', pass = '0', fail = '0', skip = '0', todo = '0'] = summary ?? [];
  process.stdout.write(`# tests ${total}\n# pass ${pass}\n# fail ${fail}\n# skipped ${skip}\n# todo ${todo}\n`);
  process.exitCode = code ?? (signal ? 1 : 0);
});
