import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_NONCE_LENGTH, assertNonce, chunkNonce, randomNonce } from '../../src/discord/nonce.js';

const runs = Number(process.env.FC_RUNS ?? 100);

describe('chunkNonce', () => {
	it('GIVEN the same archive, kind, index and generation WHEN the nonce is made twice THEN it is the same', () => {
		const input = { archiveUid: '0f'.repeat(16), kind: 'data', index: 41, generation: 0 } as const;
		expect(chunkNonce(input)).toBe(chunkNonce({ ...input }));
	});

	it('GIVEN any inputs WHEN a nonce is made THEN it has 25 characters, a kind prefix and hex digits only', () => {
		fc.assert(
			fc.property(
				fc.string({ minLength: 1 }),
				fc.constantFrom('data', 'manifest'),
				fc.nat(),
				fc.nat(),
				(archiveUid, kind, index, generation) => {
					const nonce = chunkNonce({ archiveUid, kind, index, generation });
					expect(nonce).toHaveLength(MAX_NONCE_LENGTH);
					expect(nonce).toMatch(kind === 'data' ? /^d[0-9a-f]{24}$/ : /^m[0-9a-f]{24}$/);
				}
			),
			{ numRuns: runs }
		);
	});

	it('GIVEN two different chunks, generations, kinds or archives WHEN nonces are made THEN they differ', () => {
		const base = { archiveUid: 'a1', kind: 'data', index: 1, generation: 0 } as const;
		const variants = [
			{ ...base, index: 2 },
			{ ...base, generation: 1 },
			{ ...base, kind: 'manifest' as const },
			{ ...base, archiveUid: 'a2' },
			// A naive concatenation would make these two equal.
			{ ...base, archiveUid: 'a', index: 11 }
		];
		const nonces = new Set([chunkNonce(base), ...variants.map((variant) => chunkNonce(variant))]);
		expect(nonces.size).toBe(variants.length + 1);
	});

	it('GIVEN a negative or fractional index or generation, or an empty uid WHEN a nonce is made THEN it throws RangeError', () => {
		expect(() => chunkNonce({ archiveUid: 'a', kind: 'data', index: -1, generation: 0 })).toThrow(RangeError);
		expect(() => chunkNonce({ archiveUid: 'a', kind: 'data', index: 1.5, generation: 0 })).toThrow(RangeError);
		expect(() => chunkNonce({ archiveUid: 'a', kind: 'data', index: 0, generation: -2 })).toThrow(RangeError);
		expect(() => chunkNonce({ archiveUid: '', kind: 'data', index: 0, generation: 0 })).toThrow(RangeError);
	});
});

describe('randomNonce and assertNonce', () => {
	it('GIVEN random nonces WHEN made THEN they fit Discord and differ', () => {
		const first = randomNonce();
		expect(() => {
			assertNonce(first);
		}).not.toThrow();
		expect(first.length).toBeLessThanOrEqual(MAX_NONCE_LENGTH);
		expect(randomNonce()).not.toBe(first);
	});

	it('GIVEN an empty or 26-character nonce WHEN checked THEN it throws RangeError', () => {
		expect(() => {
			assertNonce('');
		}).toThrow(RangeError);
		expect(() => {
			assertNonce('x'.repeat(26));
		}).toThrow(RangeError);
		expect(() => {
			assertNonce('x'.repeat(25));
		}).not.toThrow();
	});
});
