import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CUSTOM_ID_MAX, cleanupConfirmationId, listPageId, parseCleanupConfirmationId, parseListPageId } from '../../src/bot/lib/custom-ids.js';

const runs = Number(process.env.FC_RUNS ?? 100);
const uid = '0123456789abcdef0123456789abcdef';

describe('custom ids', () => {
	it('GIVEN a cleanup confirmation WHEN its id is parsed THEN answer, uid and expiry come back, within 100 characters', () => {
		for (const answer of ['confirm', 'keep'] as const) {
			const id = cleanupConfirmationId(answer, uid, 1_790_000_000_123);
			expect(id.length).toBeLessThanOrEqual(CUSTOM_ID_MAX);
			expect(parseCleanupConfirmationId(id)).toEqual({ answer, uid, expiresAt: 1_790_000_000_123 });
		}
	});

	it('GIVEN foreign or malformed ids WHEN parsed as a cleanup confirmation THEN null', () => {
		for (const id of [
			`archive:delete:${uid}`,
			`archive-cleanup:maybe:${uid}:abc`,
			`archive-cleanup:confirm:${uid.toUpperCase()}:abc`,
			`archive-cleanup:confirm:${uid}`,
			`archive-cleanup:confirm:${uid}:ab:c`,
			'archive-cleanup:confirm:xyz:abc'
		]) {
			expect(parseCleanupConfirmationId(id)).toBeNull();
		}
	});

	it('GIVEN any page and query WHEN the list page id is built and parsed THEN it round-trips (the query cut to fit 100 characters)', () => {
		fc.assert(
			fc.property(fc.option(fc.integer({ min: 0, max: 10 ** 12 }), { nil: null }), fc.string({ maxLength: 200 }), (before, query) => {
				const id = listPageId(before, query);
				expect(id.length).toBeLessThanOrEqual(CUSTOM_ID_MAX);
				const parsed = parseListPageId(id);
				expect(parsed?.before).toBe(before);
				expect(query.startsWith(parsed!.query)).toBe(true);
				if (id.length < CUSTOM_ID_MAX) expect(parsed!.query).toBe(query);
			}),
			{ numRuns: runs }
		);
	});

	it('GIVEN ids of other buttons WHEN parsed as list pages THEN null', () => {
		for (const id of ['archive-list:', 'archive-list:x:query', `archive:download:${uid}`, 'archive-lists:-:q']) {
			expect(parseListPageId(id)).toBeNull();
		}
	});
});
