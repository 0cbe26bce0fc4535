import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInside, isRealInside } from '../../src/core/paths.js';

describe('isInside', () => {
	it('GIVEN the root itself or a path below it WHEN checking THEN it is inside', () => {
		expect(isInside('/root', '/root')).toBe(true);
		expect(isInside('/root', '/root/')).toBe(true);
		expect(isInside('/root', '/root/a/b')).toBe(true);
		expect(isInside('/root/', '/root/a/./b/../c')).toBe(true);
		expect(isInside('/root', '/root/..a')).toBe(true);
	});

	it('GIVEN `..` out of the root or a prefix sibling WHEN checking THEN it is outside', () => {
		expect(isInside('/root', '/root/..')).toBe(false);
		expect(isInside('/root', '/root/a/../../etc')).toBe(false);
		expect(isInside('/root', '/root-other')).toBe(false);
		expect(isInside('/root', '/root-other/a')).toBe(false);
		expect(isInside('/root', '/rootx')).toBe(false);
		expect(isInside('/root', '/')).toBe(false);
	});
});

describe('isRealInside', () => {
	let base: string;
	beforeAll(async () => {
		base = await mkdtemp(path.join(tmpdir(), 'dos-inside-'));
		await mkdir(path.join(base, 'root', 'inner'), { recursive: true });
		await mkdir(path.join(base, 'root-other'), { recursive: true });
		await symlink(path.join(base, 'root-other'), path.join(base, 'root', 'escape'));
		await symlink(path.join(base, 'root', 'inner'), path.join(base, 'root', 'alias'));
	});
	afterAll(() => rm(base, { recursive: true, force: true }));

	it('GIVEN a symlink under the root WHEN checking THEN its real target decides', async () => {
		const root = path.join(base, 'root');
		expect(await isRealInside(root, path.join(root, 'inner'))).toBe(path.join(root, 'inner'));
		expect(await isRealInside(root, path.join(root, 'alias'))).toBe(path.join(root, 'inner'));
		expect(await isRealInside(root, path.join(root, 'escape'))).toBeUndefined();
		expect(await isRealInside(root, path.join(base, 'root-other'))).toBeUndefined();
		expect(await isRealInside(root, path.join(root, 'missing'))).toBeUndefined();
	});
});
