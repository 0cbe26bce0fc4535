import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A fresh temporary folder; remove it with {@link removeTemp}. */
export async function makeTemp(prefix = 'dos-core-'): Promise<string> {
	return mkdtemp(path.join(tmpdir(), prefix));
}

export async function removeTemp(dir: string): Promise<void> {
	await rm(dir, { recursive: true, force: true });
}

export interface TreeEntry {
	readonly type: 'file' | 'directory' | 'symlink';
	readonly mode: number;
	readonly mtimeMs: number;
	readonly sha256?: string;
	readonly target?: string;
}

/** Describes a folder tree (paths, types, modes, mtimes rounded to the millisecond, file hashes, link targets). */
export async function describeTree(root: string): Promise<Record<string, TreeEntry>> {
	const out: Record<string, TreeEntry> = {};
	const visit = async (dir: string, relative: string) => {
		for (const name of (await readdir(dir)).sort()) {
			const absolute = path.join(dir, name);
			const rel = relative ? `${relative}/${name}` : name;
			const info = await lstat(absolute);
			const common = { mode: info.mode & 0o7777, mtimeMs: Math.round(info.mtimeMs) };
			if (info.isSymbolicLink()) out[rel] = { ...common, type: 'symlink', mode: 0, target: await readlink(absolute) };
			else if (info.isDirectory()) {
				out[rel] = { ...common, type: 'directory' };
				await visit(absolute, rel);
			} else
				out[rel] = {
					...common,
					type: 'file',
					sha256: createHash('sha256')
						.update(await readFile(absolute))
						.digest('hex')
				};
		}
	};
	await visit(root, '');
	return out;
}

/**
 * sha256 of every file under `root` by relative `/` path, `dir` for folders (keyed `path/`), `-> target` for
 * symlinks: the contents of a tree only, to compare a restore with its source.
 */
export async function treeDigest(root: string): Promise<Record<string, string>> {
	const out: Record<string, string> = {};
	for (const [relative, entry] of Object.entries(await describeTree(root))) {
		if (entry.type === 'directory') out[`${relative}/`] = 'dir';
		else if (entry.type === 'symlink') out[relative] = `-> ${entry.target!}`;
		else out[relative] = entry.sha256!;
	}
	return out;
}

/** sha256 of every file directly in `folder`, by name. */
export async function hashesOf(folder: string): Promise<Record<string, string>> {
	const hashes: Record<string, string> = {};
	for (const name of await readdir(folder)) {
		hashes[name] = createHash('sha256')
			.update(await readFile(path.join(folder, name)))
			.digest('hex');
	}
	return hashes;
}
