import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { treeDifferences, treeDigest } from '../../src/cli/commands/demo.js';

const dirs: string[] = [];
afterEach(async () => {
	for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function treeWithLink(target: string): Promise<string> {
	const root = await mkdtemp(path.join(tmpdir(), 'dos-tree-digest-'));
	dirs.push(root);
	await mkdir(path.join(root, 'docs'));
	await writeFile(path.join(root, 'docs', 'a.txt'), 'a');
	await writeFile(path.join(root, 'docs', 'b.txt'), 'b');
	await symlink(target, path.join(root, 'docs', 'link'));
	return root;
}

describe('tree digest of the demo', () => {
	it('GIVEN two trees whose symlink points elsewhere WHEN digested THEN the digests differ and name the targets', async () => {
		const right = await treeDigest(await treeWithLink('a.txt'));
		const wrong = await treeDigest(await treeWithLink('b.txt'));
		expect(right.get('docs/link')).toBe('link:a.txt');
		expect(wrong.get('docs/link')).toBe('link:b.txt');
		expect(treeDifferences(right, wrong)).toEqual(['different: docs/link']);
		expect(treeDifferences(right, await treeDigest(await treeWithLink('a.txt')))).toEqual([]);
	});
});
