import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openIndex, type ArchiveStatus, type HistoryIndex } from '../../src/db/index.js';
import { memoryIndex, newArchive, tempFolder } from './index-fixture.js';

const opened: HistoryIndex[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
});

describe('autocomplete', () => {
	function library(): HistoryIndex {
		const index = memoryIndex();
		opened.push(index);
		const statuses: ArchiveStatus[] = ['complete', 'failed', 'interrupted', 'deleted'];
		for (let i = 1; i <= 40; i++) {
			const { lot } = index.archives.allocate(
				newArchive({
					label: i === 7 ? 'Holiday photos' : `set ${i}`,
					status: statuses[i % 4]!,
					createdAt: new Date(2024, 10, i <= 20 ? 26 : 27)
				})
			);
			if (i === 12) index.archives.recordPlan(lot, { entries: [{ path: 'docs/Tax return 2023.pdf', type: 'file', size: 9 }], chunks: [] });
		}
		return index;
	}
	const ids = (suggestions: { archive: { id: string } }[]) => suggestions.map((suggestion) => suggestion.archive.id);

	it('GIVEN an empty query WHEN suggested THEN the newest archives the subcommand can act on, at most 25', () => {
		const index = library();
		const all = index.archives.suggest('');
		expect(all).toHaveLength(25);
		expect(all[0]!.archive.lot).toBe(40);
		const resumable = index.archives.suggest('', { statuses: ['failed', 'interrupted'] });
		expect(resumable.every((suggestion) => ['failed', 'interrupted'].includes(suggestion.archive.status))).toBe(true);
		expect(resumable).toHaveLength(20);
		expect(index.archives.suggest('', { limit: 500 })).toHaveLength(25);
		expect(index.archives.suggest('', { statuses: [] })).toEqual([]);
	});

	it('GIVEN a lot or an id prefix WHEN suggested THEN the exact lot comes first, then ids with that prefix, newest first', () => {
		const index = library();
		expect(index.archives.suggest('7')[0]).toMatchObject({ matchedBy: 'lot', archive: { id: '#261124-07' } });
		expect(index.archives.suggest('#261124-07')[0]).toMatchObject({ matchedBy: 'id', archive: { lot: 7 } });
		expect(ids(index.archives.suggest('271124-2'))).toEqual([
			'#271124-29',
			'#271124-28',
			'#271124-27',
			'#271124-26',
			'#271124-25',
			'#271124-24',
			'#271124-23',
			'#271124-22',
			'#271124-21'
		]);
		expect(index.archives.suggest('2711')).toHaveLength(20);
		expect(index.archives.suggest('2711').every((suggestion) => suggestion.matchedBy === 'id')).toBe(true);
	});

	it('GIVEN a label or file name fragment WHEN suggested THEN archives match by label, then by a file they hold, filtered by status', () => {
		const index = library();
		expect(index.archives.suggest('holi')).toEqual([
			expect.objectContaining({ matchedBy: 'label', archive: expect.objectContaining({ lot: 7 }) })
		]);
		expect(index.archives.suggest('tax ret')).toEqual([
			expect.objectContaining({ matchedBy: 'file', fileName: 'Tax return 2023.pdf', archive: expect.objectContaining({ lot: 12 }) })
		]);
		// Lot 12 is 'complete' (12 % 4 = 0): a resume offers only failed or interrupted archives.
		expect(index.archives.suggest('tax ret', { statuses: ['failed', 'interrupted'] })).toEqual([]);
		expect(index.archives.suggest('holi', { statuses: ['failed'] })).toEqual([]);
		expect(index.archives.suggest('zzz-nothing')).toEqual([]);
	});

	it('GIVEN a query matching one archive in several ways WHEN suggested THEN it is offered once, by its first match', () => {
		const index = library();
		index.archives.update(7, { label: 'set 7 and 261124-07' });
		const suggestions = index.archives.suggest('7');
		expect(suggestions.filter((suggestion) => suggestion.archive.lot === 7)).toHaveLength(1);
	});
});

describe('autocomplete on 100,000 archives', () => {
	const folder = tempFolder();
	let index: HistoryIndex;

	beforeAll(() => {
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		// Bulk data straight through SQLite in one statement per table: the point is the size, not the API.
		const raw = new Database(file);
		raw.exec(`
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
			INSERT INTO archives (lot, id, uid, label, source, status, format, chunk_size, created_at, updated_at)
			SELECT i, printf('#%02d%02d24-%02d', 1 + i % 28, 1 + i % 12, i), printf('%032x', i),
				printf('%s %d', CASE i % 3 WHEN 0 THEN 'photos' WHEN 1 THEN 'music' ELSE 'backup' END, i), 'src/' || i,
				CASE i % 4 WHEN 0 THEN 'complete' WHEN 1 THEN 'failed' WHEN 2 THEN 'interrupted' ELSE 'deleted' END,
				'dos-1', 1000, 1700000000000 + i, 1700000000000 + i
			FROM n;
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
			INSERT INTO entries (archive_lot, path, name, type, size) SELECT i * 5, 'dir/file-' || i || '.jpg', 'file-' || i || '.jpg', 'file', 10 FROM n;
			INSERT INTO lot_counter (id, last_lot) VALUES (1, 100000);
		`);
		raw.close();
		index = openIndex({ path: file });
	});

	afterAll(() => {
		index.close();
		folder.remove();
	});

	const queries = ['', '7', '#0102', '0102', '0102-', 'photos', 'music 4242', 'file-777', 'ph'];
	const fullScan = /^SCAN (archives|entries|chunks|jobs)\b(?! VIRTUAL)/;

	it.each(queries)('GIVEN 100,000 archives WHEN autocomplete runs for %j THEN every query uses an index, never a full table scan', (query) => {
		const plans = index.queryPlans((self) => {
			const suggestions = self.archives.suggest(query, { statuses: ['complete', 'failed'] });
			expect(suggestions.length).toBeLessThanOrEqual(25);
			expect(suggestions.every((suggestion) => ['complete', 'failed'].includes(suggestion.archive.status))).toBe(true);
		});
		expect(plans.length).toBeGreaterThan(0);
		for (const { sql, plan } of plans) {
			expect(
				plan.filter((line) => fullScan.test(line)),
				sql
			).toEqual([]);
		}
	});

	it('GIVEN 100,000 archives WHEN ids, labels and files are looked up THEN the answers are right and the id lookup uses the id index', () => {
		const plans = index.queryPlans((self) => {
			expect(self.archives.suggest('4242')[0]).toMatchObject({ matchedBy: 'lot', archive: { lot: 4242 } });
		});
		expect(plans.flatMap((plan) => plan.plan).some((line) => line.includes('archives_id_unique'))).toBe(true);
		const byLabel = index.archives.suggest('music 4243');
		expect(byLabel.every((suggestion) => suggestion.matchedBy === 'label' && /^music \d*4243\d*$/.test(suggestion.archive.label ?? ''))).toBe(
			true
		);
		expect(byLabel.map((suggestion) => suggestion.archive.lot)).toContain(4243);
		// Entry 15,555 belongs to archive 77,775 (5 × i), which is deleted (77,775 % 4 = 3): found when no status is asked for.
		expect(index.archives.suggest('file-15555.')).toEqual([
			expect.objectContaining({ matchedBy: 'file', archive: expect.objectContaining({ lot: 77_775 }) })
		]);
		expect(index.archives.allocate(newArchive()).lot).toBe(100_001);
	});
});
