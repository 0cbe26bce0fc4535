import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Discord's bounds on autocomplete: 25 choices, names and values of 1–100 characters. */
export const AUTOCOMPLETE_MAX_CHOICES = 25;
export const AUTOCOMPLETE_TEXT_MAX = 100;

/**
 * Folders under the upload root that match what the person typed, for `upload source:`. What they typed is a
 * `/`-separated path relative to the root: the part before the last `/` is the folder to list, the rest a
 * case-insensitive prefix (then substring) of the names in it. Only real directories are offered (a symlink
 * is never followed out of the root), hidden ones only when typed, at most 25, relative paths of ≤ 100 characters.
 * A folder that cannot be read gives no choices rather than an error: autocomplete has no way to show one.
 */
export async function suggestUploadFolders(uploadRoot: string, typed: string): Promise<string[]> {
	const text = typed.replace(/\\/g, '/').replace(/^\/+/, '');
	const slash = text.lastIndexOf('/');
	const parent = slash < 0 ? '' : text.slice(0, slash);
	const fragment = (slash < 0 ? text : text.slice(slash + 1)).toLowerCase();
	if (parent.split('/').some((part) => part === '..' || part === '.')) return [];
	const directory = path.resolve(uploadRoot, parent);
	if (directory !== path.resolve(uploadRoot) && !directory.startsWith(path.resolve(uploadRoot) + path.sep)) return [];
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
		.filter((relative) => relative.length <= AUTOCOMPLETE_TEXT_MAX)
		.slice(0, AUTOCOMPLETE_MAX_CHOICES);
}
