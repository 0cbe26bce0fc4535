import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.js';

/**
 * The design lives in the repository (docs/design.md) and code, tests and docs cite its sections. These tests fail
 * when a citation names a design file the repository does not hold, or a section the design does not have.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const designPath = path.join(root, 'docs', 'design.md');
const design = readFileSync(designPath, 'utf8');

/** The places that cite the design: folders walked recursively, and single files. */
const citingFolders = ['src', 'test', 'bench', 'docs'];
const citingFiles = ['README.md', 'eslint.config.js'];
const skippedFolders = new Set(['node_modules', 'dist', 'fixtures', 'tmp', '.build']);
const textExtensions = new Set(['.ts', '.js', '.mjs', '.md', '.json']);

function walk(folder: string): string[] {
	const files: string[] = [];
	for (const name of readdirSync(folder)) {
		const full = path.join(folder, name);
		if (statSync(full).isDirectory()) {
			if (!skippedFolders.has(name)) files.push(...walk(full));
		} else if (textExtensions.has(path.extname(name))) files.push(full);
	}
	return files;
}

const self = fileURLToPath(import.meta.url);
const citingPaths = [...citingFolders.flatMap((folder) => walk(path.join(root, folder))), ...citingFiles.map((file) => path.join(root, file))].filter(
	(file) => file !== self
);

/** Section numbers of the design's headings: `## 3. Formats` → `3`, `### 3.2 Chunks` → `3.2`. */
function sectionsOf(markdown: string): Set<string> {
	const sections = new Set<string>();
	for (const match of markdown.matchAll(/^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s/gm)) sections.add(match[1]!);
	return sections;
}

/** Every mention of a design file (`…design.md`, any case), with the section numbers cited right after it. */
function citationsIn(text: string): { file: string; sections: string[] }[] {
	const citations: { file: string; sections: string[] }[] = [];
	for (const match of text.matchAll(/([\w./-]*design\.md)((?:\s*(?:§\s*\d+(?:\.\d+)*|[–-]|,|and))*)/gi)) {
		const sections = [...(match[2] ?? '').matchAll(/§\s*(\d+(?:\.\d+)*)/g)].map((section) => section[1]!);
		citations.push({ file: match[1]!, sections });
	}
	return citations;
}

describe('design citations', () => {
	it('GIVEN the design WHEN its headings are read THEN it keeps the section numbers code cites (1–9, 3.1–3.4, 9.1–9.5)', () => {
		const sections = sectionsOf(design);
		for (const wanted of ['1', '2', '3', '3.1', '3.2', '3.3', '3.4', '4', '5', '6', '7', '8', '9', '9.1', '9.2', '9.3', '9.4', '9.5']) {
			expect(sections, `§${wanted}`).toContain(wanted);
		}
	});

	it('GIVEN every source, test, bench and doc file WHEN it cites a design file THEN the file is docs/design.md and each cited section exists', () => {
		const sections = sectionsOf(design);
		const problems: string[] = [];
		let cited = 0;
		for (const file of citingPaths) {
			const text = readFileSync(file, 'utf8');
			const relative = path.relative(root, file);
			for (const citation of citationsIn(text)) {
				// A link in a Markdown file is relative to that file; a mention in code names a path from the repository root.
				const target = [path.resolve(root, citation.file), path.resolve(path.dirname(file), citation.file)].find(
					(candidate) => existsSync(candidate) && path.basename(candidate) === path.basename(citation.file)
				);
				if (target !== designPath) {
					problems.push(`${relative}: cites ${citation.file}, which is not docs/design.md`);
					continue;
				}
				cited++;
				for (const section of citation.sections) {
					if (!sections.has(section)) problems.push(`${relative}: cites §${section}, which docs/design.md does not have`);
				}
			}
		}
		expect(problems).toEqual([]);
		expect(cited).toBeGreaterThan(0);
	});

	it('GIVEN a citation of a design file outside the repository or of a missing section WHEN checked THEN it is caught', () => {
		expect(citationsIn('see ../shared/Design.md §3.2')).toEqual([{ file: '../shared/Design.md', sections: ['3.2'] }]);
		expect(citationsIn('(docs/design.md §3–§4)')).toEqual([{ file: 'docs/design.md', sections: ['3', '4'] }]);
		expect(citationsIn('(docs/design.md §4, Upload)')).toEqual([{ file: 'docs/design.md', sections: ['4'] }]);
		expect(sectionsOf('## 3. Formats\n### 3.2 Chunks\n')).toEqual(new Set(['3', '3.2']));
	});

	it('GIVEN the configuration table of §6 WHEN read THEN it names exactly the variables src/config.ts reads', () => {
		const section = /^## 6\. [^\n]*\n([\s\S]*?)^## 7\./m.exec(design)?.[1] ?? '';
		const named = [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|/gm)].map((match) => match[1]);
		expect([...named].sort()).toEqual([...CONFIG_VARIABLES].sort());
	});
});
