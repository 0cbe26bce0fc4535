import { describe, expect, it } from 'vitest';
import { legacyCardContent, parseLegacyCard } from '../../src/archive/legacy-card.js';

/** A card of the original tool as a message the bot would read. */
function card(timestamp: unknown) {
	const content = legacyCardContent({ lot: 3, archive_id: '#010324-03', timestamp, status: 'success', file_count: 1, chunk_count: 1 });
	return parseLegacyCard({ id: '1234567890123456789', content, embeds: [], thread: null });
}

describe('parseLegacyCard timestamps', () => {
	it.each([
		['2024-03-01 10:20:30', new Date(2024, 2, 1, 10, 20, 30)],
		['2024-02-29 23:59:59', new Date(2024, 1, 29, 23, 59, 59)],
		['2024-02-31 10:00:00', null],
		['2023-02-29 10:00:00', null],
		['2024-13-01 10:00:00', null],
		['yesterday', null],
		[1_709_287_230, null]
	])('GIVEN the card timestamp %j WHEN read THEN it is %s (a day no calendar has is no time, as in the history log)', (timestamp, expected) => {
		expect(card(timestamp)?.createdAt ?? null).toEqual(expected);
	});
});
