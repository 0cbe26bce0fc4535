/**
 * Throughput of the format 2 chunker on one core: `npx tsx bench/cdc-speed.ts [MiB]`. Feeds random bytes in 1 MiB
 * buffers, as a file reader would, and prints MB/s (best of 5).
 */
import { randomBytes } from 'node:crypto';
import { Chunker } from '../src/core/repo/cdc.js';

const mib = Number(process.argv[2] ?? 256);
const input = randomBytes(mib * 1024 * 1024);
let best = Infinity;
let blobs = 0;
for (let run = 0; run < 5; run++) {
	const started = process.hrtime.bigint();
	const chunker = new Chunker();
	blobs = 0;
	for (let at = 0; at < input.length; at += 1024 * 1024) blobs += chunker.push(input.subarray(at, at + 1024 * 1024)).length;
	if (chunker.finish() !== undefined) blobs++;
	best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e9);
}
console.log(`${mib} MiB, ${blobs} blobs: ${(input.length / 1e6 / best).toFixed(0)} MB/s (best of 5, one core)`);
