import { randomBytes } from 'node:crypto';
import { copyFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleFromRepository, MIN_PACK_SIZE, parseCodec } from '../../../src/core/index.js';
import { type ClosedPack, createRepository, loadBlobIndex, nextArchiveId, repositoryPacks, writeManifest } from '../../../src/core/repo/local.js';
import type { ManifestV2 } from '../../../src/core/repo/manifest.js';
import { sliceInto, type SliceTarget } from '../../../src/core/repo/slice.js';
import { freshCase, PASS, pool, useCoreWorkspace } from '../../support/core-workspace.js';
import { describeTree } from '../../support/tree.js';

useCoreWorkspace({ workers: 2, prefix: 'dos-slice-target-' });

/**
 * A target like a Discord upload's: packs are staged in a folder of their own, and each finished pack is "posted"
 * (copied into a local repository that stands for the channel) and removed from the stage, slowly.
 */
async function stagedTarget(remoteDir: string, known: ReadonlySet<string>, parent?: ManifestV2) {
	const remote = await createRepository(remoteDir, PASS);
	const stage = await freshCase('stage');
	const posted: ClosedPack[] = [];
	let mostStaged = 0;
	const target: SliceTarget = {
		keys: remote.keys,
		known,
		archiveId: await nextArchiveId(remote),
		...(parent === undefined ? {} : { parent: { id: parent.id, manifest: parent } }),
		packs: {
			dir: stage,
			keys: remote.keys,
			onClosed: async (pack) => {
				const finished = (await readdir(stage)).filter((name) => !name.startsWith('.tmp-'));
				mostStaged = Math.max(mostStaged, finished.length);
				await new Promise((resolve) => setTimeout(resolve, 30));
				await copyFile(pack.file, path.join(repositoryPacks(remote).dir, pack.name));
				await rm(pack.file);
				posted.push(pack);
			}
		},
		writeManifest: (manifest) => writeManifest(remote, manifest)
	};
	return { remote, stage, target, posted, mostStaged: () => mostStaged };
}

describe('slicing into a target that is not a local repository', () => {
	it('GIVEN a target that posts each finished pack and removes it WHEN sliced THEN every pack passes through it once, the stage ends empty, and the archive restores byte for byte', async () => {
		const source = await freshCase('src');
		await writeFile(path.join(source, 'big.bin'), randomBytes(14 * 1024 * 1024));
		for (let index = 0; index < 40; index++) await writeFile(path.join(source, `f${index}.txt`), `file ${index}\n`.repeat(index * 50));
		const remoteDir = await freshCase('remote');
		await rm(remoteDir, { recursive: true });
		const { remote, stage, target, posted, mostStaged } = await stagedTarget(remoteDir, new Set());
		const options = { source, pool, codec: parseCodec('zstd-3'), packSize: MIN_PACK_SIZE, dedup: 'repository' as const, tool: 'test' };
		let walkDone = false;
		const sliced = await sliceInto(options, async (walking) => {
			await walking;
			walkDone = true;
			return target;
		});
		expect(walkDone).toBe(true);
		expect(posted.map((pack) => pack.name)).toEqual(sliced.packs);
		expect(sliced.packs.length).toBeGreaterThanOrEqual(4);
		expect(await readdir(stage)).toEqual([]);
		// The writer waits for each post: never more than the one being posted is left finished in the stage.
		expect(mostStaged()).toBe(1);
		// What the target was told of each pack is what the pack's own header says.
		const index = await loadBlobIndex(remote);
		const told = posted.flatMap((pack) =>
			pack.entries.map((entry) => [entry.id.toString('hex'), pack.name, entry.offset, entry.storedLength] as const)
		);
		expect(told.sort()).toEqual([...index].map(([id, where]) => [id, where.pack, where.offset, where.storedLength] as const).sort());
		const out = await freshCase('out');
		await assembleFromRepository({ repo: remoteDir, outDir: out, passphrase: PASS, pool });
		expect(await describeTree(out)).toEqual(await describeTree(source));
	});

	it('GIVEN the blobs the target holds and its parent archive WHEN the same tree is sliced again THEN no pack is posted and the manifest reuses every byte', async () => {
		const source = await freshCase('src');
		for (let index = 0; index < 30; index++) await writeFile(path.join(source, `f${index}.bin`), randomBytes(1000 + index * 3000));
		const remoteDir = await freshCase('remote');
		await rm(remoteDir, { recursive: true });
		const first = await stagedTarget(remoteDir, new Set());
		const options = { source, pool, codec: parseCodec('gzip-1'), packSize: MIN_PACK_SIZE, dedup: 'repository' as const, tool: 'test' };
		const firstSlice = await sliceInto(options, () => Promise.resolve(first.target));
		const known = new Set(first.posted.flatMap((pack) => pack.entries.map((entry) => entry.id.toString('hex'))));
		const again = await stagedTarget(path.join(await freshCase('remote2'), 'r'), known, firstSlice.manifest);
		const second = await sliceInto(options, () => Promise.resolve(again.target));
		expect(again.posted).toEqual([]);
		expect(second.packs).toEqual([]);
		expect(second.manifest.parent).toBe(firstSlice.archiveId);
		expect(second.manifest.totals.newBytes).toBe(0);
		expect(second.manifest.totals.reusedBytes).toBe(firstSlice.manifest.totals.bytes);
		expect(second.manifest.entries).toEqual(firstSlice.manifest.entries);
	});
});
