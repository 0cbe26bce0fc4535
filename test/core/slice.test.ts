import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
	assertChunkSize,
	ChunkKind,
	compareSource,
	CONTAINER_OVERHEAD,
	CoreErrorCode,
	deriveArchiveKey,
	newArchiveUid,
	openChunk,
	planArchive,
	type SealedChunk,
	sha256Hex,
	sliceArchive,
	walk
} from '../../src/core/index.js';

import { nextCase, pool, useCoreWorkspace, work } from '../support/core-workspace.js';

useCoreWorkspace({ workers: 2 });

async function folder(files: Record<string, Buffer | string>): Promise<string> {
	const root = nextCase('src');
	for (const [name, content] of Object.entries(files)) {
		await mkdir(path.dirname(path.join(root, name)), { recursive: true });
		await writeFile(path.join(root, name), content);
	}
	await mkdir(root, { recursive: true });
	return root;
}

async function setup(root: string, chunkSize: number) {
	const walked = await walk(root);
	const plan = planArchive(walked, { chunkSize });
	const key = await deriveArchiveKey('pw', { iterations: 100 });
	return { walked, plan, key, uid: newArchiveUid() };
}

async function collect(iterable: AsyncIterable<SealedChunk>, onChunk?: (chunk: SealedChunk) => Promise<void>): Promise<SealedChunk[]> {
	const out: SealedChunk[] = [];
	for await (const chunk of iterable) {
		out.push(chunk);
		await onChunk?.(chunk);
	}
	return out;
}

describe('walk', () => {
	it('GIVEN names that sort differently by UTF-16 and by code point WHEN walked THEN the order is code-point order, contents after their folder', async () => {
		const root = await folder({ 'b/x': '1', a: '2', 'B/y': '3', '\u{1F600}': '4', '\uFF61': '5', 'b.txt': '6' });
		const { entries } = await walk(root);
		expect(entries.map((entry) => entry.path)).toEqual(['B', 'B/y', 'a', 'b', 'b/x', 'b.txt', '\uFF61', '\u{1F600}']);
	});

	it('GIVEN a socket and a name with a backslash WHEN walked THEN they are skipped and reported', async () => {
		const root = await folder({ 'ok.txt': 'x', 'back\\slash': 'y' });
		const server = createServer();
		await new Promise<void>((resolve) => server.listen(path.join(root, 'sock'), resolve));
		try {
			const { entries, skipped } = await walk(root);
			expect(entries.map((entry) => entry.path)).toEqual(['ok.txt']);
			expect(skipped).toEqual([
				expect.objectContaining({ path: 'back\\slash', reason: 'unsafe-name' }),
				expect.objectContaining({ path: 'sock', reason: 'special-file', detail: 'socket' })
			]);
		} finally {
			await new Promise((resolve) => server.close(resolve));
		}
	});

	it('GIVEN a symlink to a folder WHEN walked THEN it is recorded with its target and not followed', async () => {
		const root = await folder({ 'real/inner.txt': 'x' });
		await symlink('real', path.join(root, 'link'));
		const { entries } = await walk(root);
		expect(entries.map((entry) => [entry.path, entry.type, entry.target])).toEqual([
			['link', 'symlink', 'real'],
			['real', 'directory', undefined],
			['real/inner.txt', 'file', undefined]
		]);
	});

	it('GIVEN a missing folder WHEN walked THEN NOT_FOUND', async () => {
		await expect(walk(path.join(work, 'nope'))).rejects.toMatchObject({ code: CoreErrorCode.NotFound });
	});
});

describe('chunk size against the attachment limit', () => {
	it('GIVEN the defaults WHEN checked THEN they fit; one byte more than the limit allows THEN CHUNK_TOO_LARGE up front', () => {
		expect(() => {
			assertChunkSize(9_961_472, 10_485_760);
		}).not.toThrow();
		expect(() => {
			assertChunkSize(10_485_760 - CONTAINER_OVERHEAD, 10_485_760);
		}).not.toThrow();
		expect(() => {
			assertChunkSize(10_485_760 - CONTAINER_OVERHEAD + 1, 10_485_760);
		}).toThrow(expect.objectContaining({ code: CoreErrorCode.ChunkTooLarge }));
		expect(() => {
			assertChunkSize(0);
		}).toThrow(expect.objectContaining({ code: CoreErrorCode.InvalidOption }));
	});

	it('GIVEN incompressible data at the largest allowed chunk size WHEN sealed THEN every chunk fits the limit exactly', async () => {
		const limit = 64 * 1024;
		const chunkSize = limit - CONTAINER_OVERHEAD;
		const root = await folder({ 'random.bin': randomBytes(chunkSize * 2 + 5) });
		const { plan, key, uid } = await setup(root, chunkSize);
		const chunks = await collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, attachmentLimit: limit }));
		expect(chunks.map((chunk) => chunk.storedSize)).toEqual([limit, limit, 5 + CONTAINER_OVERHEAD]);
		expect(chunks.every((chunk) => !chunk.compressed)).toBe(true);
	});
});

describe('source changes while slicing', () => {
	it('GIVEN a file that grows between walk and read WHEN sliced THEN SOURCE_CHANGED names it', async () => {
		const root = await folder({ 'a.txt': 'aaaa', 'b.txt': 'bbbb' });
		const { plan, key, uid } = await setup(root, 3);
		await appendFile(path.join(root, 'b.txt'), 'more');
		await expect(collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool }))).rejects.toMatchObject({
			code: CoreErrorCode.SourceChanged,
			details: { paths: ['b.txt'] },
			message: expect.stringContaining('b.txt')
		});
	});

	it('GIVEN a file truncated while it is being read WHEN sliced THEN SOURCE_CHANGED names it and no later chunk is produced', async () => {
		const root = await folder({ 'big.bin': randomBytes(64 * 40) });
		const { plan, key, uid } = await setup(root, 64);
		const seen: number[] = [];
		const error = await collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, readAhead: 0 }), async (chunk) => {
			seen.push(chunk.index);
			if (chunk.index === 0) await truncate(path.join(root, 'big.bin'), 64 * 10);
		}).catch((e: unknown) => e);
		expect(error).toMatchObject({ code: CoreErrorCode.SourceChanged, details: { paths: ['big.bin'] } });
		expect(seen.length).toBeLessThan(11);
	});

	it('GIVEN a file that vanishes before it is read WHEN sliced THEN SOURCE_CHANGED names it', async () => {
		const root = await folder({ 'a.txt': 'aaaa', 'z.txt': 'zzzz' });
		const { plan, key, uid } = await setup(root, 100);
		await rm(path.join(root, 'z.txt'));
		await expect(collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool }))).rejects.toMatchObject({
			code: CoreErrorCode.SourceChanged,
			details: { paths: ['z.txt'] }
		});
	});

	it('GIVEN an aborted signal WHEN slicing THEN ABORTED', async () => {
		const root = await folder({ 'a.txt': 'aaaa' });
		const { plan, key, uid } = await setup(root, 2);
		const controller = new AbortController();
		controller.abort();
		await expect(collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, signal: controller.signal }))).rejects.toMatchObject(
			{
				code: CoreErrorCode.Aborted
			}
		);
	});
});

describe('recycled sealed buffers', () => {
	it('GIVEN recycleSealed WHEN each chunk is copied before the next is asked for THEN buffers are sealed into again and every chunk opens to its bytes', async () => {
		const content = randomBytes(64 * 12 + 17);
		const root = await folder({ 'r.bin': content });
		const { plan, key, uid } = await setup(root, 64);
		const copies: { chunk: SealedChunk; bytes: Buffer }[] = [];
		await collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, recycleSealed: true }), (chunk) => {
			copies.push({ chunk, bytes: Buffer.from(chunk.bytes) });
			return Promise.resolve();
		});
		expect(copies).toHaveLength(plan.chunkCount);
		// A recycled buffer went back to a worker: the views handed out earlier are detached.
		expect(copies.filter(({ chunk }) => chunk.bytes.buffer.byteLength === 0).length).toBeGreaterThan(0);
		const keyBytes = key.exportBytes();
		const restored = copies.map(({ chunk, bytes }) => {
			expect(bytes).toHaveLength(chunk.storedSize);
			expect(sha256Hex(bytes)).toBe(chunk.sha256);
			return openChunk({ sealed: bytes, archiveKey: keyBytes, expect: { kind: ChunkKind.Data, uid, index: chunk.index } }).plain;
		});
		expect(Buffer.concat(restored).equals(content)).toBe(true);
	});
});

describe('resume', () => {
	it('GIVEN chunks already stored WHEN sliced again with their recorded hashes THEN only the missing ones are sealed, and file hashes are complete', async () => {
		const root = await folder({ 'a.bin': randomBytes(500), 'b.bin': randomBytes(300) });
		const { plan, key, uid } = await setup(root, 100);
		const first = sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool });
		const all = await collect(first);
		const stored = new Map(all.filter((chunk) => chunk.index % 3 !== 1).map((chunk) => [chunk.index, chunk.plainSha256]));
		const again = sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, stored });
		const resumed = await collect(again);
		expect(resumed.map((chunk) => chunk.index)).toEqual([1, 4, 7]);
		expect(resumed.map((chunk) => chunk.plainSha256)).toEqual([1, 4, 7].map((index) => all[index]!.plainSha256));
		expect(again.done).toBe(true);
		expect(again.fileHashes).toEqual(first.fileHashes);
	});

	it('GIVEN a source whose stored bytes changed (same size and mtime) WHEN resumed THEN SOURCE_CHANGED names the file', async () => {
		const root = await folder({ 'a.bin': Buffer.alloc(300, 1), 'b.bin': Buffer.alloc(300, 2) });
		const { plan, key, uid } = await setup(root, 100);
		const all = await collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool }));
		const stored = new Map(all.map((chunk) => [chunk.index, chunk.plainSha256]));
		stored.delete(5);
		stored.set(4, 'f'.repeat(64));
		await expect(collect(sliceArchive({ root, plan, key, uid, archiveId: '#010125-01', pool, stored }))).rejects.toMatchObject({
			code: CoreErrorCode.SourceChanged,
			details: { paths: ['b.bin'], chunks: [4] }
		});
	});

	it('GIVEN a recorded plan WHEN the source changed THEN compareSource names every difference', async () => {
		const root = await folder({ 'same.txt': 's', 'grows.txt': 'g', 'gone.txt': 'x', 'dir/kept': 'k' });
		await symlink('same.txt', path.join(root, 'link'));
		const { plan } = await setup(root, 100);
		expect(await compareSource(root, plan)).toEqual([]);
		await appendFile(path.join(root, 'grows.txt'), 'more');
		await rm(path.join(root, 'gone.txt'));
		await rm(path.join(root, 'link'));
		await symlink('elsewhere', path.join(root, 'link'));
		await writeFile(path.join(root, 'new.txt'), 'new');
		expect(await compareSource(root, plan)).toEqual([
			{ path: 'gone.txt', change: 'vanished' },
			{ path: 'grows.txt', change: 'size' },
			{ path: 'link', change: 'target' }
		]);
	});
});
