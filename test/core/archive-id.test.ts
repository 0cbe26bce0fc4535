import { describe, expect, it } from 'vitest';
import {
	CoreErrorCode,
	formatArchiveId,
	looksLikeArchiveId,
	OFFLINE_LOT,
	parseArchiveId,
	parseRecordedArchiveId,
	parseStagedName,
	readArchiveId
} from '../../src/core/index.js';
import { assertArchiveId } from '../../src/db/index.js';

// Each row: text, then the lot each reading finds (null: refused) — index (parseArchiveId), written (readArchiveId),
// recorded (parseRecordedArchiveId).
const table: [string, number | null, number | null, number | null][] = [
	['#261124-00', null, 0, 0],
	['#261124-01', 1, 1, 1],
	['#261124-99', 99, 99, 99],
	['#261124-100', 100, 100, 100],
	['#261124-7', null, 7, null],
	['261124-07', null, 7, 7],
	['[Archive] #261124-07', null, 7, null],
	['#261124-123456789', 123_456_789, 123_456_789, 123_456_789],
	['#261124-1234567890', 1_234_567_890, null, 1_234_567_890],
	['#010124-01', 1, 1, 1],
	['#000124-01', null, null, 1],
	['#310124-01', 1, 1, 1],
	['#320124-01', null, null, 1],
	['#300224-01', null, null, 1],
	['#290224-01', 1, 1, 1],
	['#290223-01', null, null, 1],
	['#311224-01', 1, 1, 1],
	['#011324-01', null, null, 1],
	['#010024-01', null, null, 1],
	['#2611-07', null, null, null],
	['#261124-', null, null, null],
	['#261124-07x', null, null, null],
	[' #261124-07', null, 7, null]
];

describe('archive ids: one grammar, three readings', () => {
	it.each(table)('GIVEN %j THEN the index reads lot %s, a person’s text %s, a recorded id %s', (text, index, written, recorded) => {
		expect(parseArchiveId(text)?.lot ?? null).toBe(index);
		expect(readArchiveId(text)?.lot ?? null).toBe(written);
		expect(parseRecordedArchiveId(text)?.lot ?? null).toBe(recorded);
	});

	it.each([
		[0, null],
		[1, '#261124-01'],
		[9, '#261124-09'],
		[10, '#261124-10'],
		[99, '#261124-99'],
		[100, '#261124-100'],
		[Number.MAX_SAFE_INTEGER, `#261124-${Number.MAX_SAFE_INTEGER}`],
		[-1, null],
		[1.5, null]
	])('GIVEN lot %s WHEN formatted THEN %s', (lot, id) => {
		if (id === null)
			expect(() => formatArchiveId(new Date(2024, 10, 26), lot)).toThrow(expect.objectContaining({ code: CoreErrorCode.InvalidArchiveId }));
		else {
			expect(formatArchiveId(new Date(2024, 10, 26), lot)).toBe(id);
			expect(parseArchiveId(id)).toMatchObject({ id, lot });
		}
	});

	it('GIVEN what an offline slice mints by default THEN every reading, the index and staged names accept it', () => {
		const id = formatArchiveId(new Date(), OFFLINE_LOT);
		expect(parseArchiveId(id)?.lot).toBe(1);
		expect(readArchiveId(id)?.id).toBe(id);
		expect(parseRecordedArchiveId(id)?.id).toBe(id);
		expect(() => assertArchiveId(id)).not.toThrow();
		expect(parseStagedName(`${id.slice(1)}.c000000.0123456789ab.bin`)?.archiveId).toBe(id);
	});

	it('GIVEN a staged name an earlier slice wrote with lot 00 THEN it is still read', () => {
		expect(parseStagedName('261124-00.m000.0123456789ab.bin')).toMatchObject({ archiveId: '#261124-00', kind: 'manifest' });
	});

	it.each([
		['#241126-07', true],
		['241126-7', true],
		['#321126-07', true],
		['241126', false],
		['photos 24', false],
		['7', false]
	])('GIVEN typed %j THEN it looks like an id: %s', (text, expected) => {
		expect(looksLikeArchiveId(text)).toBe(expected);
	});
});
