import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENTRY_LIST, parseHistoryLog, quoteLongIntegers } from '../../src/archive/legacy-log.js';
import { importHistoryLog } from '../../src/archive/legacy-log-import.js';
import { isArchiveError } from '../../src/archive/errors.js';
import { openIndex, type HistoryIndex } from '../../src/db/index.js';
import { newArchive, tempFolder } from '../db/index-fixture.js';
import { PyInt, pythonJson, threadEntry, threadlessEntry } from './support/history-log.js';

const STORAGE = '1300000000000000001';
const ARCHIVE_CHANNEL = '1300000000000000002';
// Ids beyond 2^53: a double would round them, so they must be read from the text.
const m = (n: number) => `13111111111111${String(11111 + n)}`;

function originalLog(): string {
	return pythonJson([
		threadlessEntry(1, { messageIds: [m(1), m(2), m(3)], timestamp: '2024-11-20 09:15:00' }),
		threadlessEntry(2, {
			archiveId: '#211124-02',
			messageIds: [m(4), m(5)],
			timestamp: '2024-11-21 10:00:00',
			uploadedFiles: ['0001-aaaaaaaaaaaa-0123456789abcdef-0000.bin']
		}),
		threadlessEntry(3, { archiveId: '#221124-03', messageIds: [m(6)], status: 'failed' }),
		threadEntry(4, { archiveId: '#261124-04', threadId: m(100), archiveChannelId: ARCHIVE_CHANNEL }),
		threadEntry(7, { archiveId: '#271124-07', threadId: m(101), status: 'deleted' }),
		{ ...threadlessEntry(9, { archiveId: '#281124-09', messageIds: [m(7), m(8)], status: 'partial' }), errors: { 'x.bin': 'HTTP 500' } }
	]);
}

describe('the original tool’s history log', () => {
	let folder: ReturnType<typeof tempFolder>;
	let index: HistoryIndex;
	beforeEach(() => {
		folder = tempFolder();
		index = openIndex({ path: `${folder.path}/dos.sqlite` });
	});
	afterEach(() => {
		index.close();
		folder.remove();
	});

	it('GIVEN Discord ids written as JSON numbers WHEN the log is read THEN every digit survives, and strings are left alone', () => {
		expect(
			quoteLongIntegers('[{"a": 1311111111111111112, "b": "1311111111111111112 x", "c": 12, "d": 1.5e300, "e": "q\\"1234567890123456789"}]')
		).toBe('[{"a": "1311111111111111112", "b": "1311111111111111112 x", "c": 12, "d": 1.5e300, "e": "q\\"1234567890123456789"}]');
		const log = parseHistoryLog(originalLog());
		expect(log.refused).toEqual([]);
		expect(log.entries.map((entry) => entry.messageIds)).toEqual([[m(1), m(2), m(3)], [m(4), m(5)], [m(6)], [], [], [m(7), m(8)]]);
		expect(log.entries[3]?.threadId).toBe(m(100));
	});

	it('GIVEN a log in the original’s shape WHEN it is imported THEN every entry keeps its lot and id, thread-less ones their messages, and new lots come after', () => {
		const result = importHistoryLog(index, parseHistoryLog(originalLog()), { storageChannelId: STORAGE, archiveChannelId: ARCHIVE_CHANNEL });
		expect(result.refused).toEqual([]);
		expect(result.imported.map((entry) => [entry.archiveId, entry.lot, entry.status, entry.holds])).toEqual([
			['#201124-01', 1, 'complete', 'messages'],
			['#211124-02', 2, 'complete', 'messages'],
			['#221124-03', 3, 'failed', 'messages'],
			['#261124-04', 4, 'complete', 'thread'],
			['#271124-07', 7, 'deleted', 'thread'],
			['#281124-09', 9, 'failed', 'messages']
		]);
		expect(index.legacyMessages.get(1)).toEqual({ channelId: STORAGE, messageIds: [m(1), m(2), m(3)] });
		expect(index.legacyMessages.get(4)).toBeNull();
		const threaded = index.archives.require(4);
		expect([threaded.threadId, threaded.cardMessageId, threaded.channelId, threaded.format]).toEqual([
			m(100),
			m(100),
			ARCHIVE_CHANNEL,
			'legacy-v3.1'
		]);
		expect(index.archives.require(1).channelId).toBe(STORAGE);
		expect(index.archives.lastLot()).toBe(9);
		expect(index.archives.allocate(newArchive()).lot).toBe(10);

		const again = importHistoryLog(index, parseHistoryLog(originalLog()), { storageChannelId: STORAGE, archiveChannelId: ARCHIVE_CHANNEL });
		expect(again.imported).toEqual([]);
		expect(again.alreadyIndexed).toHaveLength(6);
		expect(again.refused).toEqual([]);
	});

	it('GIVEN a thread-less entry and no storage channel anywhere WHEN imported THEN it is refused with what to set, and the rest comes in', () => {
		const result = importHistoryLog(index, parseHistoryLog(originalLog()), { storageChannelId: undefined, archiveChannelId: ARCHIVE_CHANNEL });
		expect(result.refused.map((refusal) => [refusal.archiveId, refusal.code])).toEqual([
			['#201124-01', 'NO_STORAGE_CHANNEL'],
			['#211124-02', 'NO_STORAGE_CHANNEL'],
			['#221124-03', 'NO_STORAGE_CHANNEL'],
			['#281124-09', 'NO_STORAGE_CHANNEL']
		]);
		expect(result.refused[0]?.reason).toContain('DISCORD_DRIVE_STORAGE_CHANNEL_ID');
		expect(result.imported.map((entry) => entry.lot)).toEqual([4, 7]);
	});

	it('GIVEN a hostile log WHEN it is imported THEN each bad entry is refused with its reason and nothing else changes', () => {
		const existing = index.archives.allocate(newArchive());
		const hostile = pythonJson([
			'not an entry',
			{ lot: '5', archive_id: '#201124-05', message_ids: [] },
			{ lot: 6, archive_id: '#201124-99', message_ids: [] },
			{ lot: 8, archive_id: '#201124-08', message_ids: [new PyInt(m(20)), 'https://evil.example/x'] },
			{ lot: 10, archive_id: '#201124-10', message_ids: [new PyInt('12345')] },
			{
				lot: 11,
				archive_id: '#201124-11',
				message_ids: Array.from({ length: MAX_ENTRY_LIST + 1 }, (_, i) => new PyInt(String(1311111111111100000n + BigInt(i))))
			},
			{ lot: 12, archive_id: '#201124-12', message_ids: [new PyInt(m(21))], uploaded_files: ['../../.ssh/authorized_keys'] },
			{ lot: 13, archive_id: '#201124-13', message_ids: [new PyInt(m(22))], failed_files: ['/etc/passwd'] },
			{ lot: 14, archive_id: '#201124-14', message_ids: [new PyInt(m(23))], uploaded_files: ['a\u0000b'] },
			{ lot: 15, archive_id: '#201124-15', message_ids: [new PyInt(m(24))], thread_id: 'DROP TABLE archives' },
			{ lot: 16, archive_id: '#201124-16', message_ids: [new PyInt(m(25))], file_count: -3 },
			{ lot: 1e300, archive_id: '#201124-17', message_ids: [] },
			{ lot: existing.lot, archive_id: `#201124-${String(existing.lot).padStart(2, '0')}`, message_ids: [new PyInt(m(26))] },
			{ lot: 18, archive_id: '#201124-18', message_ids: [new PyInt(m(27))] },
			{ lot: 19, archive_id: '#201124-19', message_ids: [new PyInt(m(27))] },
			{ lot: 18, archive_id: '#201124-18', message_ids: [new PyInt(m(28))] }
		]);
		const before = index.archives.list({ limit: 100 }).archives;
		const result = importHistoryLog(index, parseHistoryLog(hostile), { storageChannelId: STORAGE, archiveChannelId: ARCHIVE_CHANNEL });
		expect(result.refused.map((refusal) => [refusal.position, refusal.code])).toEqual([
			[0, 'MALFORMED_ENTRY'],
			[1, 'MALFORMED_ENTRY'],
			[2, 'MALFORMED_ENTRY'],
			[3, 'BAD_DISCORD_ID'],
			[4, 'BAD_DISCORD_ID'],
			[5, 'ENTRY_TOO_LARGE'],
			[6, 'UNSAFE_NAME'],
			[7, 'UNSAFE_NAME'],
			[8, 'UNSAFE_NAME'],
			[9, 'BAD_DISCORD_ID'],
			[10, 'MALFORMED_ENTRY'],
			[11, 'MALFORMED_ENTRY'],
			[12, 'CONFLICT'],
			[14, 'CONFLICT'],
			[15, 'CONFLICT']
		]);
		expect(result.imported.map((entry) => entry.lot)).toEqual([18]);
		expect(index.archives.list({ limit: 100 }).archives.filter((archive) => archive.lot !== 18)).toEqual(before);
		expect(index.archives.lastLot()).toBe(18);
		expect(index.legacyMessages.get(existing.lot)).toBeNull();
	});

	it('GIVEN a file that is not a log at all WHEN read THEN it is refused whole with BAD_HISTORY_LOG', () => {
		for (const text of ['{"lot": 1}', 'not json', '']) {
			let caught: unknown;
			try {
				parseHistoryLog(text);
			} catch (error) {
				caught = error;
			}
			expect(isArchiveError(caught, 'BAD_HISTORY_LOG'), text).toBe(true);
		}
	});
});
