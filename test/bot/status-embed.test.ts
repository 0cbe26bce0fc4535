import { describe, expect, it } from 'vitest';
import type { ServiceStatus } from '../../src/archive/service.js';
import { statusEmbed } from '../../src/bot/lib/status-embed.js';

const base = {
	index: {
		archives: { total: 0, byStatus: {} },
		lastArchive: null,
		lastBackup: null,
		runningJobs: [],
		queuedJobs: [],
		repository: { archives: 0, packs: 0, storedBytes: 0, blobs: 0, rawBytes: 0 }
	},
	uploadRoot: { path: '/up', freeBytes: 1 },
	downloadRoot: { path: '/down', freeBytes: 1 },
	encryption: true,
	logChannel: false,
	jobs: []
} as unknown as Omit<ServiceStatus, 'keys'>;

const slot = { id: 'ab'.repeat(16), created: new Date('2025-01-02T03:04:05Z'), kdf: 'pbkdf2-sha256' as const, iterations: 600_000 };

function keysField(keys: ServiceStatus['keys']): string {
	return statusEmbed({ ...base, keys }).fields!.find((field) => field.name === 'Repository keys')!.value;
}

describe('/archive status: repository keys', () => {
	it('GIVEN keys USER_KEY opens WHEN shown THEN the slot count, the creation and KDF iterations of each slot, and which one opens', () => {
		const value = keysField({ state: 'open', repositoryId: 'cd'.repeat(16), slots: [slot], openedSlot: slot.id, legacyPassphrases: 2 });
		expect(value).toMatch(/1 slot, USER_KEY opens them · 2 older passphrases kept/);
		expect(value).toContain(`<t:${Math.floor(slot.created.getTime() / 1000)}:d>`);
		expect(value).toContain('PBKDF2-SHA256 600,000');
		expect(value).toContain('opens with USER_KEY');
	});

	it('GIVEN keys USER_KEY no longer opens WHEN shown THEN it says so plainly and that uploads are refused', () => {
		const value = keysField({ state: 'locked', repositoryId: 'cd'.repeat(16), slots: [slot] });
		expect(value).toMatch(/USER_KEY opens none of the key slots/);
		expect(value).toMatch(/New uploads are refused: set USER_KEY to the current passphrase/);
		expect(value).not.toContain('opens with USER_KEY');
	});

	it('GIVEN no keys yet, or keys that cannot be read WHEN shown THEN each says which', () => {
		expect(keysField({ state: 'none' })).toMatch(/not made yet/);
		expect(keysField({ state: 'unavailable', reason: 'Discord is unavailable.' })).toMatch(/could not be read: Discord is unavailable/);
	});
});

describe('/archive status: the format 2 repository', () => {
	const field = (repository: ServiceStatus['index']['repository']) =>
		statusEmbed({ ...base, index: { ...base.index, repository }, keys: { state: 'none' } }).fields!.find(
			(candidate) => candidate.name === 'Repository (format 2)'
		)!.value;

	it('GIVEN no format 2 archive WHEN shown THEN it says so; GIVEN some THEN archives, packs and stored bytes, blobs and their bytes', () => {
		expect(field({ archives: 0, packs: 0, storedBytes: 0, blobs: 0, rawBytes: 0 })).toBe('no format 2 archive yet');
		expect(field({ archives: 2, packs: 1, storedBytes: 9_961_472, blobs: 1234, rawBytes: 3 * 1024 ** 3 })).toBe(
			'2 archives · 1 pack, 9.50 MiB stored · 1,234 blobs holding 3.00 GiB'
		);
	});
});
