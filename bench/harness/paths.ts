import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Where things are, whether the bench runs as TypeScript through tsx (the runner) or as the JavaScript that
 * `tsc -p tsconfig.bench.json` compiles into `bench/.build/` (the measured case processes, so that a case's peak
 * RSS is the engine's and not that of a TypeScript loader thread).
 */

/** The repository root: the nearest folder above this file that holds package.json. */
export const REPO_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** `.ts` when running as TypeScript, `.js` when compiled: the extension of sibling modules loaded by name. */
export const MODULE_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The built entry of a layer of the product (`dist/<layer>/index.js`), as a file path. */
export function distEntry(layer: string): string {
	return path.join(REPO_ROOT, 'dist', layer, 'index.js');
}

/** The same, as a URL for `import()`. */
export function distEntryUrl(layer: string): string {
	return pathToFileURL(distEntry(layer)).href;
}

/** The compiled case-process entry (see {@link REPO_ROOT}). */
export const COMPILED_CASE_CHILD = path.join(REPO_ROOT, 'bench', '.build', 'bench', 'harness', 'case-child.js');

function findRoot(from: string): string {
	for (let dir = from; ; dir = path.dirname(dir)) {
		if (existsSync(path.join(dir, 'package.json'))) return dir;
		if (path.dirname(dir) === dir) throw new Error(`No package.json above ${from}: run the bench from the repository.`);
	}
}
