import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateSQLiteDrizzleJson, generateSQLiteMigration } from 'drizzle-kit/api';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultMigrationsFolder, IndexErrorCode, openIndex, type HistoryIndex } from '../../src/db/index.js';
import * as schema from '../../src/db/schema.js';
import { memoryIndex, newArchive, tempFolder } from './index-fixture.js';

const opened: HistoryIndex[] = [];
const folders: ReturnType<typeof tempFolder>[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
	for (const folder of folders.splice(0)) folder.remove();
});

describe('migrations', () => {
	it('GIVEN the Drizzle schema WHEN diffed against the last committed snapshot THEN there is nothing left to generate', async () => {
		const journal = JSON.parse(readFileSync(join(defaultMigrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: { idx: number }[] };
		const last = journal.entries.at(-1)!.idx;
		const snapshot = JSON.parse(readFileSync(join(defaultMigrationsFolder, `meta/${String(last).padStart(4, '0')}_snapshot.json`), 'utf8'));
		const current = await generateSQLiteDrizzleJson(schema);
		// Non-empty means the schema changed without `npm run db:generate -- --name <what_changed>`.
		expect(await generateSQLiteMigration(snapshot, current)).toEqual([]);
	});

	it('GIVEN a new in-memory index WHEN opened THEN every table, FTS table and trigger exists and the FTS indexes are sound', () => {
		const index = memoryIndex();
		opened.push(index);
		index.archives.allocate(newArchive());
		expect(index.integrityProblems()).toEqual([]);
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		const raw = new Database(file, { readonly: true });
		const names = (
			raw.prepare(`SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`).all() as { type: string; name: string }[]
		).map((row) => `${row.type}:${row.name}`);
		raw.close();
		for (const table of ['archives', 'chunks', 'entries', 'jobs', 'lot_counter', 'index_backups', 'meta', 'entries_fts', 'archives_fts']) {
			expect(names).toContain(`table:${table}`);
		}
		for (const trigger of [
			'entries_fts_after_insert',
			'entries_fts_after_delete',
			'entries_fts_after_update',
			'archives_fts_after_insert',
			'archives_fts_after_delete',
			'archives_fts_after_update'
		]) {
			expect(names).toContain(`trigger:${trigger}`);
		}
		expect(names).toContain('index:jobs_one_running_per_archive');
	});

	it('GIVEN no column anywhere WHEN the schema is read THEN none of them holds a URL', () => {
		const columns = Object.values(schema)
			.filter((table): table is typeof schema.archives => typeof table === 'object' && table !== null && 'getSQL' in table)
			.flatMap((table) => Object.values(table).map((column: { name?: unknown }) => column.name))
			.filter((name): name is string => typeof name === 'string');
		expect(columns.length).toBeGreaterThan(40);
		expect(columns.filter((name) => /url/i.test(name))).toEqual([]);
	});

	it('GIVEN an index file WHEN opened, written, closed and reopened THEN it is in WAL mode with foreign keys on and keeps its rows', () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'nested', 'index.sqlite');
		const first = openIndex({ path: file });
		const archive = first.archives.allocate(newArchive());
		first.close();
		expect(first.isOpen).toBe(false);

		const again = openIndex({ path: file });
		opened.push(again);
		expect(again.archives.get(archive.lot)?.uid).toBe(archive.uid);
		expect(again.archives.allocate(newArchive()).lot).toBe(archive.lot + 1);

		const raw = new Database(file);
		expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
		raw.close();
		// Foreign keys are per connection: the index's own connection must cascade.
		again.archives.remove(archive.lot);
		expect(again.chunks.list(archive.lot)).toEqual([]);
	});

	it('GIVEN an index from before a thread held one archive, with two rows on one thread WHEN migrated THEN neither keeps that thread and the rule holds', () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		const raw = new Database(file);
		raw.exec('DROP INDEX archives_thread_unique');
		const insert = raw.prepare(
			`INSERT INTO archives (lot, id, uid, source, status, format, chunk_size, thread_id, created_at, updated_at) VALUES (?, ?, ?, '', 'complete', 'dos-1', 1000, ?, 0, 0)`
		);
		insert.run(1, '#010124-01', 'a'.repeat(32), '100000000000000001');
		insert.run(2, '#010124-02', 'b'.repeat(32), '100000000000000001');
		insert.run(3, '#010124-03', 'c'.repeat(32), '100000000000000003');
		// Forget that 0004_archives_thread_unique and every later migration ran, as an index written before it would be.
		raw.exec('ALTER TABLE archives DROP COLUMN verify_stale');
		raw.exec('ALTER TABLE jobs DROP COLUMN cancel_requested_at');
		raw.exec('DROP TABLE legacy_messages');
		raw.exec('DROP TABLE repository_keys');
		raw.exec('DROP TABLE archive_blobs');
		raw.exec('DROP TABLE blobs');
		raw.exec('DROP TABLE packs');
		raw.exec('ALTER TABLE archives DROP COLUMN new_bytes');
		raw.exec('ALTER TABLE archives DROP COLUMN reused_bytes');
		raw.exec(
			'DELETE FROM __drizzle_migrations WHERE created_at >= (SELECT created_at FROM __drizzle_migrations ORDER BY created_at LIMIT 1 OFFSET 4)'
		);
		raw.close();
		const index = openIndex({ path: file });
		opened.push(index);
		expect([1, 2, 3].map((lot) => index.archives.get(lot)!.threadId)).toEqual([null, null, '100000000000000003']);
		expect(() => index.archives.update(1, { threadId: '100000000000000003' })).toThrow(
			expect.objectContaining({ code: IndexErrorCode.ArchiveExists })
		);
	});

	it("GIVEN an index from before packs could be deleting WHEN migrated THEN live archives keep their packs and blobs, and deleted archives' packs are gone", () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		const raw = new Database(file);
		raw.pragma('foreign_keys = ON');
		const archive = raw.prepare(
			`INSERT INTO archives (lot, id, uid, source, status, format, chunk_size, channel_id, thread_id, created_at, updated_at) VALUES (?, ?, ?, '', ?, 'dos-2', 1000, '100000000000000009', ?, 0, 0)`
		);
		archive.run(1, '#010124-01', 'a'.repeat(32), 'complete', '100000000000000001');
		archive.run(2, '#010124-02', 'b'.repeat(32), 'deleted', '100000000000000002');
		const packRow = raw.prepare(
			`INSERT INTO packs (id, archive_lot, name, state, thread_id, message_index, attachment_index, post_nonce, message_id, attachment_id, size, sha256, recorded_at, updated_at) VALUES (?, ?, ?, 'stored', ?, 0, 0, 'n', '100000000000000020', '100000000000000021', 10, ?, 0, 0)`
		);
		packRow.run(1, 1, 'c'.repeat(32), '100000000000000001', 'd'.repeat(64));
		packRow.run(2, 2, 'e'.repeat(32), '100000000000000002', 'f'.repeat(64));
		const blobRow = raw.prepare(`INSERT INTO blobs (id, pack_id, pack_offset, stored_length, raw_length, codec) VALUES (?, ?, 0, 5, 5, 'none')`);
		blobRow.run('1'.repeat(64), 1);
		blobRow.run('2'.repeat(64), 2);
		// Forget that the last migration ran.
		raw.exec('DELETE FROM __drizzle_migrations WHERE created_at = (SELECT max(created_at) FROM __drizzle_migrations)');
		raw.close();
		const index = openIndex({ path: file });
		opened.push(index);
		expect(index.packs.list(1).map((row) => row.name)).toEqual(['c'.repeat(32)]);
		expect(index.packs.list(2)).toEqual([]);
		expect(index.packs.knownBlobs('100000000000000009')).toEqual(new Set(['1'.repeat(64)]));
	});

	it('GIVEN an index from before format 2 (migration 0008) holding archives with entries and chunks WHEN migrated through the table rebuilds THEN no child row is lost', () => {
		const folder = tempFolder();
		folders.push(folder);
		// The migrations as they were when 0008 was the newest.
		const older = join(folder.path, 'migrations');
		cpSync(defaultMigrationsFolder, older, { recursive: true });
		const journalFile = join(older, 'meta/_journal.json');
		const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number }[] };
		journal.entries = journal.entries.filter((entry) => entry.idx <= 8);
		writeFileSync(journalFile, JSON.stringify(journal));
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file, migrationsFolder: older }).close();
		// Rows as that version wrote them (its archives table has no new_bytes column yet).
		const raw = new Database(file);
		raw.pragma('foreign_keys = ON');
		raw.prepare(
			`INSERT INTO archives (lot, id, uid, source, status, format, chunk_size, file_count, chunk_count, created_at, updated_at) VALUES (1, '#010124-01', ?, 'photos', 'complete', 'dos-1', 1000, 1, 2, 0, 0)`
		).run('a'.repeat(32));
		const chunk = raw.prepare(
			`INSERT INTO chunks (archive_lot, kind, chunk_index, state, plain_size, recorded_at, updated_at) VALUES (1, 'data', ?, 'pending', 500, 0, 0)`
		);
		chunk.run(0);
		chunk.run(1);
		const entry = raw.prepare(`INSERT INTO entries (archive_lot, path, name, type, size) VALUES (1, ?, ?, ?, ?)`);
		entry.run('a', 'a', 'directory', 0);
		entry.run('a/one.txt', 'one.txt', 'file', 1000);
		raw.close();
		const lot = 1;
		const index = openIndex({ path: file });
		opened.push(index);
		expect(index.archives.require(lot)).toMatchObject({ chunkCount: 2, fileCount: 1, newBytes: null });
		expect(index.chunks.list(lot)).toHaveLength(2);
		expect(index.entries.list(lot).map((entry) => entry.path)).toEqual(['a', 'a/one.txt']);
		expect(index.integrityProblems()).toEqual([]);
		// Foreign keys are on again for the index's own connection.
		index.archives.remove(lot);
		expect(index.chunks.list(lot)).toEqual([]);
	});

	it('GIVEN an index written by a newer version WHEN opened THEN it is refused with INDEX_TOO_NEW and left untouched', () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		openIndex({ path: file }).close();
		const raw = new Database(file);
		raw.prepare('INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)').run('future', 99_999_999_999_999);
		raw.close();
		expect(() => openIndex({ path: file })).toThrow(expect.objectContaining({ code: IndexErrorCode.IndexTooNew }));
	});

	it('GIVEN a file that is not a database WHEN opened THEN it is refused with INDEX_UNREADABLE', async () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		const { writeFileSync } = await import('node:fs');
		writeFileSync(file, 'this is not a database, but it is long enough to have a header of sorts......................');
		expect(() => openIndex({ path: file })).toThrow(expect.objectContaining({ code: IndexErrorCode.IndexUnreadable }));
	});
});
