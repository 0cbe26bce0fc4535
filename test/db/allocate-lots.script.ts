// Run by archives.test.ts in a child process: allocates archives on a shared index file and prints their lots.
import { randomBytes } from 'node:crypto';
import { openIndex } from '../../src/db/index.js';

const [file, countText] = process.argv.slice(2);
const index = openIndex({ path: file!, busyTimeoutMs: 30_000 });
const lots: number[] = [];
for (let i = 0; i < Number(countText); i++) {
	lots.push(index.archives.allocate({ uid: randomBytes(16).toString('hex'), source: 'shared', chunkSize: 1_000 }).lot);
}
index.close();
process.stdout.write(JSON.stringify(lots));
