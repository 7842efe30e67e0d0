import { measureRss } from '/work/main/dist/bench/queue.js';
for (const f of [[], ['--max-semi-space-size=1']]) for (let i = 0; i < 2; i++) { const r = await measureRss(1_000_000, f); console.log(f.join(' ') || 'default', (r.peakRss/1048576).toFixed(0), (r.baseRss/1048576).toFixed(0)); }
