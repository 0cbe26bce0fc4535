import { afterEach, describe, expect, it } from 'vitest';
import { IndexErrorCode, type ArchiveEntryInput, type HistoryIndex } from '../../src/db/index.js';
import { memoryIndex, newArchive } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

const files = (...paths: string[]): ArchiveEntryInput[] => paths.map((path) => ({ path, type: 'file', size: 1 }));

/** Three archives: photos (complete), music (failed), and a deleted one. */
function library(): { index: HistoryIndex; photos: number; music: number; gone: number } {
	const index = memoryIndex();
	opened.push(index);
	const photos = index.archives.allocate(newArchive({ label: 'photos 2024', status: 'complete' })).lot;
	index.archives.recordPlan(photos, {
		entries: [
			{ path: 'Vacances', type: 'directory' },
			...files(
				'Vacances/IMG_20240712_101500.jpg',
				'Vacances/IMG_20240713_090000.JPG',
				'Vacances/Ünïcødé naïve 名前.md',
				'Vacances/smörgåsbord.png'
			)
		],
		chunks: []
	});
	const music = index.archives.allocate(newArchive({ label: 'music', status: 'failed' })).lot;
	index.archives.recordPlan(music, {
		entries: files('albums/Beyoncé - Halo.flac', 'albums/img_cover.jpg', 'notes 100% "quoted" AND NEAR(x).txt'),
		chunks: []
	});
	const gone = index.archives.allocate(newArchive({ label: 'old', status: 'deleted' })).lot;
	index.archives.recordPlan(gone, { entries: files('IMG_20200101_000000.jpg'), chunks: [] });
	return { index, photos, music, gone };
}

const paths = (index: HistoryIndex, query: string, options = {}) => index.entries.search(query, options).hits.map((hit) => hit.entry.path);

describe('file search', () => {
	it('GIVEN files across archives WHEN searched by a fragment in the middle of the name THEN every match comes back, any case, newest archive first', () => {
		const { index } = library();
		expect(paths(index, '0240')).toEqual(['Vacances/IMG_20240713_090000.JPG', 'Vacances/IMG_20240712_101500.jpg']);
		expect(paths(index, 'img_')).toEqual([
			'IMG_20200101_000000.jpg',
			'albums/img_cover.jpg',
			'Vacances/IMG_20240713_090000.JPG',
			'Vacances/IMG_20240712_101500.jpg'
		]);
		expect(paths(index, '.JPG')).toHaveLength(4);
	});

	it('GIVEN non-ASCII names WHEN searched with or without their accents, or in CJK THEN they are found', () => {
		const { index } = library();
		expect(paths(index, 'naïve')).toEqual(['Vacances/Ünïcødé naïve 名前.md']);
		expect(paths(index, 'NAIVE')).toEqual(['Vacances/Ünïcødé naïve 名前.md']);
		expect(paths(index, 'unïc')).toEqual(['Vacances/Ünïcødé naïve 名前.md']);
		expect(paths(index, 've 名前')).toEqual(['Vacances/Ünïcødé naïve 名前.md']);
		expect(paths(index, 'smörgås')).toEqual(['Vacances/smörgåsbord.png']);
		expect(paths(index, 'beyonce')).toEqual(['albums/Beyoncé - Halo.flac']);
	});

	it('GIVEN a query with FTS syntax in it WHEN searched THEN it is taken literally', () => {
		const { index } = library();
		expect(paths(index, '"quoted"')).toEqual(['notes 100% "quoted" AND NEAR(x).txt']);
		expect(paths(index, 'NEAR(x)')).toEqual(['notes 100% "quoted" AND NEAR(x).txt']);
		expect(paths(index, 'AND')).toEqual(['notes 100% "quoted" AND NEAR(x).txt']);
		expect(paths(index, 'not 0%')).toEqual(['notes 100% "quoted" AND NEAR(x).txt']);
		expect(paths(index, 'img 9%')).toEqual([]);
	});

	it('GIVEN several terms WHEN searched THEN all must match, short terms narrowing long ones; a query of short terms only is refused', () => {
		const { index } = library();
		expect(paths(index, 'img 13')).toEqual(['Vacances/IMG_20240713_090000.JPG']);
		expect(paths(index, 'img cover')).toEqual(['albums/img_cover.jpg']);
		expect(paths(index, 'g_ 13')).toEqual([]);
		expect(() => index.entries.search('im')).toThrow(expect.objectContaining({ code: IndexErrorCode.QueryTooShort }));
		expect(() => index.entries.search('  ')).toThrow(expect.objectContaining({ code: IndexErrorCode.QueryTooShort }));
	});

	it('GIVEN a folder name WHEN searched THEN the folder is found, and its files are listed under it through the path index', () => {
		const { index, photos } = library();
		const [folder] = index.entries.search('vacances').hits;
		expect(folder?.entry).toMatchObject({ path: 'Vacances', type: 'directory', archiveLot: photos });
		expect(index.entries.list(photos, { under: folder!.entry.path }).map((entry) => entry.path)).toEqual([
			'Vacances/IMG_20240712_101500.jpg',
			'Vacances/IMG_20240713_090000.JPG',
			'Vacances/Ünïcødé naïve 名前.md',
			'Vacances/smörgåsbord.png'
		]);
		expect(index.entries.list(photos, { under: 'Vacan' })).toEqual([]);
	});

	it('GIVEN status and archive filters WHEN searched THEN hits come only from those archives, with the archive they belong to', () => {
		const { index, photos, music } = library();
		const hits = index.entries.search('img_', { statuses: ['complete', 'failed'] }).hits;
		expect(hits.map((hit) => hit.archive.lot)).toEqual([music, photos, photos]);
		expect(hits[0]!.archive).toMatchObject({ label: 'music', status: 'failed' });
		expect(paths(index, 'img_', { lots: [photos] })).toHaveLength(2);
		expect(paths(index, 'img_', { statuses: [] })).toEqual([]);
	});

	it('GIVEN many hits WHEN paged THEN pages follow each other without overlap until the last', () => {
		const { index } = library();
		const seen: string[] = [];
		let before: number | undefined;
		for (let page = 0; page < 10; page++) {
			const result = index.entries.search('img', { limit: 1, ...(before === undefined ? {} : { before }) });
			seen.push(...result.hits.map((hit) => hit.entry.path));
			if (result.nextBefore === null) break;
			before = result.nextBefore;
		}
		expect(seen).toEqual(paths(index, 'img', { limit: 10 }));
		expect(seen).toHaveLength(4);
	});

	it('GIVEN an archive whose content is rebuilt WHEN searched THEN only the new names are found', () => {
		const { index, music } = library();
		const archive = index.archives.get(music)!;
		index.archives.replaceContent({ ...archive, kdf: null, entries: files('albums/renamed.flac'), chunks: [] });
		expect(paths(index, 'halo')).toEqual([]);
		expect(paths(index, 'renamed')).toEqual(['albums/renamed.flac']);
		expect(index.integrityProblems()).toEqual([]);
	});
});

describe('control characters in search text', () => {
	it('GIVEN a NUL or another control character in what is typed WHEN suggesting, listing or finding THEN it is searched as a space, never a raw SQLite error', () => {
		const { index, music } = library();
		expect(index.archives.suggest('mus\u0000ic').map((suggestion) => suggestion.archive.lot)).toEqual([music]);
		expect(index.archives.suggest('music\u0000').map((suggestion) => suggestion.archive.lot)).toEqual([music]);
		expect(index.archives.list({ query: 'mus\u0000ic' }).archives.map((archive) => archive.lot)).toEqual([music]);
		expect(index.archives.list({ query: 'music\u0000' }).archives.map((archive) => archive.lot)).toEqual([music]);
		expect(index.archives.count({ query: '\u001bmusic\u0007' })).toBe(1);
		expect(paths(index, 'smörg\u0000')).toEqual(['Vacances/smörgåsbord.png']);
		expect(() => index.entries.search('\u0000\u0000\u0000')).toThrow(expect.objectContaining({ code: IndexErrorCode.QueryTooShort }));
	});
});

describe('an archive named by what a person types', () => {
	it('GIVEN a label, a folder or a file name that fits one archive WHEN required THEN that archive is resolved; ids still win', () => {
		const { index, photos, music } = library();
		expect(index.archives.require('photos 2024').lot).toBe(photos);
		expect(index.archives.require('PHOTOS 2024').lot).toBe(photos);
		expect(index.archives.require('smörgåsbord.png').lot).toBe(photos);
		expect(index.archives.require('Beyoncé').lot).toBe(music);
		expect(index.archives.require(String(music)).lot).toBe(music);
	});

	it('GIVEN a name that fits several archives WHEN required THEN AMBIGUOUS_ARCHIVE lists them, unless one label is exactly it', () => {
		const { index, photos, gone } = library();
		// IMG_ names are in the photos, music and deleted archives.
		let error: unknown;
		try {
			index.archives.require('img_');
		} catch (caught) {
			error = caught;
		}
		expect(error).toMatchObject({ code: IndexErrorCode.AmbiguousArchive });
		const message = (error as Error).message;
		expect(message).toContain(index.archives.get(photos)!.id);
		expect(message).toContain(index.archives.get(gone)!.id);
		expect(message).toMatch(/Give the id/);
		const exact = index.archives.allocate(newArchive({ label: 'photos', source: 'elsewhere' })).lot;
		expect(index.archives.require('Photos').lot).toBe(exact);
	});

	it('GIVEN a name that fits nothing WHEN required THEN ARCHIVE_NOT_FOUND says no archive matches it', () => {
		const { index } = library();
		expect(() => index.archives.require('nothing like it')).toThrow(expect.objectContaining({ code: IndexErrorCode.ArchiveNotFound }));
		expect(() => index.archives.require('nothing like it')).toThrow(/No archive matches "nothing like it"/);
		expect(() => index.archives.require('#010101-99')).toThrow(/No archive #010101-99 in the index/);
	});
});

describe('path suggestions inside an archive', () => {
	it('GIVEN an archive WHEN a path is typed THEN its matching entries come back, folders first, then the shallowest', () => {
		const { index, photos } = library();
		expect(index.entries.suggestPaths(photos, '').map((entry) => entry.path)).toEqual([
			'Vacances',
			'Vacances/IMG_20240712_101500.jpg',
			'Vacances/IMG_20240713_090000.JPG',
			'Vacances/smörgåsbord.png',
			'Vacances/Ünïcødé naïve 名前.md'
		]);
		expect(index.entries.suggestPaths(photos, 'img_', 1).map((entry) => entry.path)).toEqual(['Vacances/IMG_20240712_101500.jpg']);
		expect(index.entries.suggestPaths(photos, '100%\u0000')).toEqual([]);
	});
});

describe('short terms beside long ones', () => {
	it('GIVEN "photos 24" WHEN listing or counting THEN the short term narrows what the long one found, as suggest does', () => {
		const index = memoryIndex();
		opened.push(index);
		const lot2024 = index.archives.allocate(newArchive({ label: 'photos 2024', source: 'photos-2024', status: 'complete' })).lot;
		const lot2023 = index.archives.allocate(newArchive({ label: 'photos 2023', source: 'photos-2023', status: 'complete' })).lot;
		expect(index.archives.list({ query: 'photos' }).archives.map((archive) => archive.lot)).toEqual([lot2023, lot2024]);
		expect(index.archives.list({ query: 'photos 24' }).archives.map((archive) => archive.lot)).toEqual([lot2024]);
		expect(index.archives.count({ query: 'photos 24' })).toBe(1);
		expect(index.archives.suggest('photos 24').map((suggestion) => suggestion.archive.lot)).toEqual([lot2024]);
	});
});
