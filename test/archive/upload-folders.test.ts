import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suggestUploadFolders } from '../../src/archive/upload-folders.js';
import { resolveUploadFolder } from '../../src/archive/upload.js';
import { isCoreError } from '../../src/core/index.js';

describe('upload folder suggestions', () => {
	let root: string;
	let outside: string;

	beforeAll(async () => {
		root = await mkdtemp(path.join(tmpdir(), 'dos-folders-'));
		outside = await mkdtemp(path.join(tmpdir(), 'dos-outside-'));
		for (const folder of ['Photos', 'papers', 'music/jazz', 'music/rock', '.hidden', 'old-photos'])
			await mkdir(path.join(root, folder), { recursive: true });
		for (let n = 0; n < 40; n++) await mkdir(path.join(root, 'many', `f${String(n).padStart(2, '0')}`), { recursive: true });
		await writeFile(path.join(root, 'plan.txt'), 'not a folder');
		await symlink(outside, path.join(root, 'pointer'));
	});

	afterAll(async () => {
		await rm(root, { recursive: true, force: true });
		await rm(outside, { recursive: true, force: true });
	});

	it('GIVEN a prefix WHEN suggesting THEN folders starting with it come first (case-insensitive), then those containing it; files, hidden folders and symlinks never', async () => {
		expect(await suggestUploadFolders(root, 'p')).toEqual(['papers', 'Photos', 'old-photos']);
		expect(await suggestUploadFolders(root, '')).toEqual(['many', 'music', 'old-photos', 'papers', 'Photos']);
	});

	it('GIVEN a nested path WHEN suggesting THEN the folders inside it come back as relative paths', async () => {
		expect(await suggestUploadFolders(root, 'music/')).toEqual(['music/jazz', 'music/rock']);
		expect(await suggestUploadFolders(root, 'music/r')).toEqual(['music/rock']);
	});

	it('GIVEN more than 25 folders WHEN suggesting THEN 25 come back', async () => {
		expect(await suggestUploadFolders(root, 'many/')).toHaveLength(25);
	});

	it('GIVEN an escape or a missing folder WHEN suggesting THEN nothing comes back', async () => {
		expect(await suggestUploadFolders(root, '../')).toEqual([]);
		expect(await suggestUploadFolders(root, 'music/../../')).toEqual([]);
		expect(await suggestUploadFolders(root, 'pointer/')).toEqual([]);
		expect(await suggestUploadFolders(root, 'nothing/here')).toEqual([]);
		expect(await suggestUploadFolders(root, '.h')).toEqual(['.hidden']);
	});

	it('GIVEN a symlink out of the root, `..` or a prefix sibling of the root WHEN suggested or admitted THEN none is offered and none is admitted', async () => {
		const sibling = `${root}-other`;
		await mkdir(path.join(sibling, 'inside-sibling'), { recursive: true });
		await symlink(path.join(root, 'music'), path.join(root, 'alias'));
		try {
			await mkdir(path.join(outside, 'secret'), { recursive: true });
			expect(await suggestUploadFolders(root, 'pointer')).toEqual([]);
			expect(await suggestUploadFolders(root, 'pointer/')).toEqual([]);
			expect(await suggestUploadFolders(root, `../${path.basename(sibling)}/`)).toEqual([]);
			expect(await suggestUploadFolders(root, 'alias/')).toEqual(['alias/jazz', 'alias/rock']);
			for (const folder of ['pointer', '../', `../${path.basename(sibling)}`, sibling, 'music/../../']) {
				const error = await resolveUploadFolder(root, folder).then(
					() => undefined,
					(caught: unknown) => caught
				);
				expect(isCoreError(error, 'UNSAFE_PATH'), folder).toBe(true);
			}
			expect(await resolveUploadFolder(root, 'alias')).toEqual({ root: path.join(root, 'music'), source: 'music' });
			expect(await resolveUploadFolder(root, 'music/jazz')).toEqual({ root: path.join(root, 'music', 'jazz'), source: 'music/jazz' });
		} finally {
			await rm(sibling, { recursive: true, force: true });
			await rm(path.join(root, 'alias'));
			await rm(path.join(outside, 'secret'), { recursive: true });
		}
	});
});
