import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertArchiveId, formatArchiveId, IndexErrorCode, parseArchiveId } from '../../src/db/index.js';

const runs = Number(process.env.FC_RUNS ?? 100);

describe('archive ids', () => {
	it.each([
		[new Date(2024, 10, 26), 7, '#261124-07'],
		[new Date(2024, 10, 26), 1, '#261124-01'],
		[new Date(2024, 10, 26), 99, '#261124-99'],
		[new Date(2024, 10, 26), 100, '#261124-100'],
		[new Date(2030, 0, 1), 123_456, '#010130-123456'],
		[new Date(2099, 11, 31, 23, 59, 59), 10, '#311299-10']
	])('GIVEN %s and lot %i WHEN formatted THEN %s', (date, lot, id) => {
		expect(formatArchiveId(date, lot)).toBe(id);
		expect(parseArchiveId(id)).toMatchObject({ id, lot });
	});

	it.each(['261124-07', '#261124-7', '#2611-07', '#261124-', '#321124-07', '#300224-07', '#261324-07', '#261124-00', '#261124-07x', ' #261124-07'])(
		'GIVEN %j WHEN parsed THEN it is not an archive id',
		(id) => {
			expect(parseArchiveId(id)).toBeNull();
			expect(() => assertArchiveId(id)).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidArchiveId }));
		}
	);

	it('GIVEN a leap day WHEN parsed THEN it is a date only in leap years', () => {
		expect(parseArchiveId('#290224-01')).not.toBeNull();
		expect(parseArchiveId('#290223-01')).toBeNull();
	});

	it('GIVEN a lot that is not a positive integer WHEN formatted THEN INVALID_ARCHIVE_ID', () => {
		for (const lot of [0, -1, 1.5, Number.NaN]) {
			expect(() => formatArchiveId(new Date(), lot)).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidArchiveId }));
		}
		expect(() => assertArchiveId('#261124-07', 8)).toThrow(expect.objectContaining({ code: IndexErrorCode.InvalidArchiveId }));
	});

	it('GIVEN any date and lot WHEN formatted then parsed THEN the day, month, two-digit year and lot come back', () => {
		fc.assert(
			fc.property(
				fc.date({ min: new Date(2000, 0, 1), max: new Date(2099, 11, 31), noInvalidDate: true }),
				fc.integer({ min: 1, max: 10_000_000 }),
				(date, lot) => {
					const parsed = parseArchiveId(formatArchiveId(date, lot));
					expect(parsed).toEqual({
						id: formatArchiveId(date, lot),
						day: date.getDate(),
						month: date.getMonth() + 1,
						year: date.getFullYear() % 100,
						lot
					});
				}
			),
			{ numRuns: runs }
		);
	});
});
