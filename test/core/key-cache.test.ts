import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { ArchiveKeyCache, CoreErrorCode, KDF_CHANNEL, type KdfEvent } from '../../src/core/index.js';

const derived: number[] = [];
const listener = (message: unknown) => derived.push((message as KdfEvent).iterations);
afterEach(() => {
	unsubscribe(KDF_CHANNEL, listener);
	derived.length = 0;
});

describe('ArchiveKeyCache', () => {
	it('GIVEN the same salt and count twice THEN PBKDF2 runs once and the same key comes back', async () => {
		subscribe(KDF_CHANNEL, listener);
		const cache = new ArchiveKeyCache('pass phrase');
		const salt = randomBytes(16);
		const [a, b] = [await cache.derive(salt, 1_000), await cache.derive(salt, 1_000)];
		expect(a.exportBytes().equals(b.exportBytes())).toBe(true);
		expect(derived).toEqual([1_000]);
	});

	it('GIVEN an expected count WHEN a header asks for another THEN TAMPERED_CHUNK before any PBKDF2', async () => {
		subscribe(KDF_CHANNEL, listener);
		const cache = new ArchiveKeyCache('pass phrase', { expectedIterations: 1_000 });
		await expect(cache.derive(randomBytes(16), 10_000_000)).rejects.toMatchObject({ code: CoreErrorCode.TamperedChunk });
		expect(derived).toEqual([]);
	});

	it('GIVEN more different salts than allowed THEN BAD_FORMAT without deriving the extra one', async () => {
		subscribe(KDF_CHANNEL, listener);
		const cache = new ArchiveKeyCache('pass phrase', { maxDerivations: 2 });
		await cache.derive(randomBytes(16), 1_000);
		await cache.derive(randomBytes(16), 1_000);
		await expect(cache.derive(randomBytes(16), 1_000)).rejects.toMatchObject({ code: CoreErrorCode.BadFormat });
		expect(derived).toEqual([1_000, 1_000]);
	});
});
