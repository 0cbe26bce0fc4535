import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { isCoreError } from '../../../src/core/errors.js';
import { KDF_CHANNEL, type KdfEvent } from '../../../src/core/keys.js';
import {
	addSlot,
	changePassphrase,
	createKeys,
	listSlots,
	MAX_LEGACY_PASSPHRASES,
	MAX_SLOTS,
	openLegacySecret,
	removeSlot,
	rotatePassphrase,
	sealLegacySecret,
	SLOT_LENGTH,
	unlockKeys
} from '../../../src/core/repo/keys.js';

/** Test slots use few iterations; the format's minimum is checked separately. */
const fast = { iterations: 1000, minIterations: 1000 } as const;
const fastUnlock = { minIterations: 1000 } as const;

async function counted<T>(work: () => Promise<T>): Promise<{ value: T; kdf: number[] }> {
	const kdf: number[] = [];
	const listener = (message: unknown): void => void kdf.push((message as KdfEvent).iterations);
	subscribe(KDF_CHANNEL, listener);
	try {
		return { value: await work(), kdf };
	} finally {
		unsubscribe(KDF_CHANNEL, listener);
	}
}

describe('format 2 keys', () => {
	it('GIVEN a new repository at the real 600,000 iterations WHEN unlocked THEN exactly one PBKDF2 runs and the same master opens', async () => {
		const keys = await createKeys('correct horse');
		expect(keys.file.length).toBe(26 + SLOT_LENGTH + 32);
		const { value, kdf } = await counted(() => unlockKeys(keys.file, 'correct horse'));
		expect(kdf).toEqual([600_000]);
		expect(value.id).toBe(keys.id);
		expect(value.subkey('blobId').equals(keys.subkey('blobId'))).toBe(true);
		expect(JSON.stringify(value)).not.toContain(keys.subkey('blobId').toString('hex'));
	});

	it('GIVEN a wrong passphrase WHEN unlocking THEN WRONG_KEY, one PBKDF2 per slot tried', async () => {
		const { keys } = await addSlot(await createKeys('one', fast), 'two', fast);
		const { kdf } = await counted(() => expect(unlockKeys(keys.file, 'three', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'WRONG_KEY')));
		expect(kdf).toEqual([1000, 1000]);
		await expect(unlockKeys(keys.file, '', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'NO_KEY'));
	});

	it('GIVEN the subkeys WHEN compared THEN each use has its own key', async () => {
		const keys = await createKeys('p', fast);
		const uses = ['blobSeal', 'blobId', 'manifest', 'indexBackup', 'packHeader', 'keysFile', 'legacySecret'] as const;
		expect(new Set(uses.map((use) => keys.subkey(use).toString('hex'))).size).toBe(uses.length);
	});

	it('GIVEN add, passwd and remove WHEN used THEN old passphrases fail, the master stays, the last slot cannot go', async () => {
		const created = await createKeys('old', fast);
		const { keys: two, slot } = await addSlot(created, 'second', fast);
		expect(listSlots(two.file, fastUnlock).slots.map((s) => s.id)).toEqual([created.openedSlot, slot.id]);
		expect((await unlockKeys(two.file, 'second', fastUnlock)).openedSlot).toBe(slot.id);

		const opened = await unlockKeys(two.file, 'old', fastUnlock);
		const { value: changed, kdf } = await counted(() => changePassphrase(opened, 'new', fast));
		// One PBKDF2 to seal the new slot, one to check it opens.
		expect(kdf).toEqual([1000, 1000]);
		expect(changed.slots.map((s) => s.id)).not.toContain(created.openedSlot);
		await expect(unlockKeys(changed.file, 'old', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'WRONG_KEY'));
		const reopened = await unlockKeys(changed.file, 'new', fastUnlock);
		expect(reopened.subkey('blobSeal').equals(created.subkey('blobSeal'))).toBe(true);
		expect(reopened.id).toBe(created.id);

		const one = removeSlot(reopened, slot.id);
		await expect(unlockKeys(one.file, 'second', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'WRONG_KEY'));
		expect(() => removeSlot(one, one.slots[0]!.id)).toThrow(/last key slot/);
		expect(() => removeSlot(one, 'ffff')).toThrow(/No single key slot/);
	});

	it('GIVEN a full slot list WHEN adding THEN it is refused', async () => {
		let keys = await createKeys('p', fast);
		for (let i = 1; i < MAX_SLOTS; i++) keys = (await addSlot(keys, `p${i}`, fast)).keys;
		await expect(addSlot(keys, 'one too many', fast)).rejects.toThrow(/at most/);
	});

	it('GIVEN any one byte of a keys file changed WHEN unlocking THEN it is refused', async () => {
		const { keys } = await addSlot(await createKeys('p', fast), 'q', fast);
		const file = keys.file;
		for (let at = 0; at < file.length; at++) {
			const forged = Buffer.from(file);
			forged[at]! ^= 0x01;
			await expect(unlockKeys(forged, 'p', fastUnlock), `byte ${at}`).rejects.toSatisfy((e) => isCoreError(e));
		}
		// A slot list edited by someone without the key: the first slot dropped, count fixed up.
		const body = Buffer.concat([file.subarray(0, 25), Buffer.from([1]), file.subarray(26 + SLOT_LENGTH)]);
		await expect(unlockKeys(body, 'q', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
		// Truncated or extended files.
		await expect(unlockKeys(file.subarray(0, file.length - 1), 'p', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT'));
		await expect(unlockKeys(Buffer.concat([file, Buffer.alloc(1)]), 'p', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT'));
	});

	it('GIVEN an iteration count out of bounds WHEN unlocking THEN BAD_FORMAT before any PBKDF2 runs', async () => {
		const keys = await createKeys('p', fast);
		const iterationsAt = 26 + 16 + 8 + 1;
		for (const iterations of [10_000_001, 0xffffffff, 599_999]) {
			const forged = Buffer.from(keys.file);
			forged.writeUInt32BE(iterations, iterationsAt);
			const { kdf } = await counted(() => expect(unlockKeys(forged, 'p')).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT')));
			expect(kdf).toEqual([]);
		}
		// The test file itself (1000 iterations) is refused at the format's minimum.
		const { kdf } = await counted(() => expect(unlockKeys(keys.file, 'p')).rejects.toThrow(/iterations/));
		expect(kdf).toEqual([]);
	});

	it('GIVEN a sealed older passphrase WHEN opened THEN it survives a passphrase change and a wrong label is refused', async () => {
		const keys = await createKeys('p', fast);
		const sealed = sealLegacySecret(keys, 'the old USER_KEY', '#051226-01');
		const changed = await unlockKeys((await changePassphrase(keys, 'new', fast)).file, 'new', fastUnlock);
		expect(openLegacySecret(changed, sealed, '#051226-01')).toBe('the old USER_KEY');
		expect(() => openLegacySecret(changed, sealed, '#051226-02')).toThrow(/does not authenticate/);
		const forged = Buffer.from(sealed);
		forged[forged.length - 1]! ^= 1;
		expect(() => openLegacySecret(changed, forged, '#051226-01')).toThrow(/does not authenticate/);
	});

	it('GIVEN older passphrases kept WHEN the passphrase changes THEN they survive, the file is version 2, and the old passphrase is refused', async () => {
		const created = await createKeys('old', fast);
		expect(created.file[8]).toBe(1);
		const kept = created.withLegacyPassphrase('format 1 USER_KEY').withLegacyPassphrase('original tool key');
		expect(kept.withLegacyPassphrase('format 1 USER_KEY')).toBe(kept);
		expect(kept.file[8]).toBe(2);
		const changed = await changePassphrase(await unlockKeys(kept.file, 'old', fastUnlock), 'new', fast);
		await expect(unlockKeys(changed.file, 'old', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'WRONG_KEY'));
		const reopened = await unlockKeys(changed.file, 'new', fastUnlock);
		expect(reopened.legacyPassphrases()).toEqual(['format 1 USER_KEY', 'original tool key']);
		const { keys: added } = await addSlot(reopened, 'third', fast);
		expect((await unlockKeys(removeSlot(added, reopened.openedSlot).file, 'third', fastUnlock)).legacyPassphrases()).toHaveLength(2);
		expect(JSON.stringify(reopened)).not.toContain('format 1');
		expect(String(reopened)).not.toContain('format 1');
	});

	it('GIVEN any one byte of the older-passphrase section changed WHEN unlocking THEN it is refused', async () => {
		const keys = (await createKeys('p', fast)).withLegacyPassphrase('the old USER_KEY');
		const file = keys.file;
		const sectionAt = 26 + SLOT_LENGTH;
		for (let at = sectionAt; at < file.length; at++) {
			const forged = Buffer.from(file);
			forged[at]! ^= 0x01;
			await expect(unlockKeys(forged, 'p', fastUnlock), `byte ${at}`).rejects.toSatisfy((e) => isCoreError(e));
		}
		// The section dropped and the version set back to 1: the MAC covers it.
		const dropped = Buffer.concat([file.subarray(0, sectionAt), file.subarray(file.length - 32)]);
		dropped[8] = 1;
		await expect(unlockKeys(dropped, 'p', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'TAMPERED_CHUNK'));
	});

	it('GIVEN a forged older-passphrase section WHEN unlocking THEN its bounds are checked before any PBKDF2 runs', async () => {
		const keys = (await createKeys('p', fast)).withLegacyPassphrase('the old USER_KEY');
		const sectionAt = 26 + SLOT_LENGTH;
		const mac = keys.file.subarray(keys.file.length - 32);
		const head = keys.file.subarray(0, sectionAt);
		const forgeries = [
			Buffer.concat([head, Buffer.from([0]), mac]),
			Buffer.concat([head, Buffer.from([MAX_LEGACY_PASSPHRASES + 1]), mac]),
			Buffer.concat([head, Buffer.from([1, 0xff, 0xff]), Buffer.alloc(40), mac]),
			Buffer.concat([head, Buffer.from([1, 0, 28]), Buffer.alloc(28), mac]),
			Buffer.concat([head, Buffer.from([2, 0, 40]), Buffer.alloc(40), mac]),
			Buffer.concat([head, Buffer.from([1, 0, 40]), Buffer.alloc(41), mac]),
			Buffer.concat([head, mac])
		];
		for (const forged of forgeries) {
			forged[8] = 2;
			const { kdf } = await counted(() => expect(unlockKeys(forged, 'p', fastUnlock)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT')));
			expect(kdf).toEqual([]);
		}
	});

	it('GIVEN the most older passphrases, or one too long WHEN kept THEN refused with a reason', async () => {
		let keys = await createKeys('p', fast);
		for (let i = 0; i < MAX_LEGACY_PASSPHRASES; i++) keys = keys.withLegacyPassphrase(`old ${i}`);
		expect((await unlockKeys(keys.file, 'p', fastUnlock)).legacyPassphrases()).toHaveLength(MAX_LEGACY_PASSPHRASES);
		expect(() => keys.withLegacyPassphrase('one more')).toThrow(/at most 16/);
		expect(() => keys.withLegacyPassphrase('x'.repeat(1025))).toThrow(/1024 bytes/);
		expect(() => keys.withLegacyPassphrase('')).toThrow(/No key/);
	});

	it('GIVEN a rotation stopped at any step (a crash) WHEN the stored file is opened THEN some passphrase always opens it, and after the last step only the new one', async () => {
		const keys = await createKeys('old', fast);
		for (let failAt = 1; failAt <= 3; failAt++) {
			let stored: Buffer = keys.file;
			let calls = 0;
			const store = {
				save: (file: Buffer) => {
					if (++calls === failAt) return Promise.reject(new Error('crash'));
					stored = file;
					return Promise.resolve();
				},
				load: () => Promise.resolve(stored)
			};
			const outcome = await rotatePassphrase(keys, 'new', store, fast).then(
				() => 'done',
				(error: unknown) => (error as Error).message
			);
			const opens = async (passphrase: string) =>
				unlockKeys(stored, passphrase, fastUnlock).then(
					() => true,
					() => false
				);
			const [old, fresh] = [await opens('old'), await opens('new')];
			expect(old || fresh, `crash at save ${failAt}`).toBe(true);
			if (failAt === 1) expect([outcome, old, fresh]).toEqual(['crash', true, false]);
			if (failAt === 2) expect([outcome, old, fresh]).toEqual(['crash', true, true]);
			if (failAt === 3) expect([outcome, old, fresh]).toEqual(['done', false, true]);
		}
	});
});
