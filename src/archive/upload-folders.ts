import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isInside, isRealInside } from '../core/index.js';

/** How many suggestions and how long each may be (the bot passes Discord's autocomplete bounds). */
export interface FolderSuggestionLimits {
	/** At most this many folders; 25 by default. */
	readonly limit?: number;
	/** Longer relative paths are left out; 100 characters by default. */
	readonly maxLength?: number;
}

/**
 * Folders under the upload root that match what the person typed, for `upload source:`. What they typed is a
 * `/`-separated path relative to the root: the part before the last `/` is the folder to list, the rest a
 * case-insensitive prefix (then substring) of the names in it. Only real directories are offered (a symlink
 * is never listed, and a typed folder whose real path leaves the root is not read: the same containment as upload
 * admission, {@link isInside} / {@link isRealInside}), hidden ones only when typed, at most `limit`, relative paths
 * of ≤ `maxLength` characters. A folder that cannot be read gives no choices rather than an error: autocomplete has
 * no way to show one.
 */
export async function suggestUploadFolders(uploadRoot: string, typed: string, limits: FolderSuggestionLimits = {}): Promise<string[]> {
	const { limit = 25, maxLength = 100 } = limits;
	const text = typed.replace(/\\/g, '/').replace(/^\/+/, '');
	const slash = text.lastIndexOf('/');
	const parent = slash < 0 ? '' : text.slice(0, slash);
	const fragment = (slash < 0 ? text : text.slice(slash + 1)).toLowerCase();
	if (parent.split('/').some((part) => part === '..' || part === '.')) return [];
	const directory = path.resolve(uploadRoot, parent);
	if (!isInside(uploadRoot, directory) || (await isRealInside(uploadRoot, directory)) === undefined) return [];
	let names: string[];
	try {
		names = (await readdir(directory, { withFileTypes: true }))
			.filter((entry) => entry.isDirectory() && (!entry.name.startsWith('.') || fragment.startsWith('.')))
			.map((entry) => entry.name);
	} catch {
		return [];
	}
	const prefixed = names.filter((name) => name.toLowerCase().startsWith(fragment));
	const containing = names.filter((name) => !name.toLowerCase().startsWith(fragment) && name.toLowerCase().includes(fragment));
	const byName = (a: string, b: string) => a.localeCompare(b, 'en');
	return [...prefixed.sort(byName), ...containing.sort(byName)]
		.map((name) => (parent === '' ? name : `${parent}/${name}`))
		.filter((relative) => relative.length <= maxLength)
		.slice(0, limit);
}
