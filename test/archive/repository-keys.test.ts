import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { downloadArchive } from '../../src/archive/download.js';
import {
	assertUploadKey,
	changeChannelPassphrase,
	channelKeysStatus,
	openChannelKeys,
	REPOSITORY_KEYS_FILENAME
} from '../../src/archive/repository-keys.js';
import { CoreErrorCode, isCoreError, KDF_CHANNEL } from '../../src/core/index.js';
import { createKeys } from '../../src/core/repo/keys.js';
import type { ArchiveTransport } from '../../src/discord/index.js';
import { treeDigest } from '../support/tree.js';
import { postTestArchive } from './read-fixture.js';
import { type ArchiveHarness, randomContent, startArchiveHarness, testKdfIterations, testPassphrase } from './support/harness.js';

const NEW_PASSPHRASE = 'a brand new passphrase for the channel';

async function kdfRuns<T>(work: () => Promise<T>): Promise<{ value: T; runs: number }> {
	let runs = 0;
	const listener = () => {
		runs++;
	};
	subscribe(KDF_CHANNEL, listener);
	try {
		return { value: await work(), runs };
	} finally {
		unsubscribe(KDF_CHANNEL, listener);
	}
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
	try {
		await promise;
	} catch (error) {
		return error;
	}
	throw new Error('expected a failure');
}

/** Another process on the same index file and channel, with its own cache, and the given USER_KEY. */
function processWith(harness: ArchiveHarness, passphrase: string): ArchiveContext {
	const second = harness.secondContext();
	return { ...second, settings: { ...second.settings, passphrase } };
}

/** The keys messages the bot has pinned in the archive channel. */
async function pinnedKeys(harness: ArchiveHarness): Promise<string[]> {
	const self = await harness.transport.selfUserId();
	return (await harness.transport.pinnedMessages(harness.archiveChannelId))
		.filter((message) => message.authorId === self && message.attachments.some((file) => file.filename === REPOSITORY_KEYS_FILENAME))
		.map((message) => message.id);
}

/** The harness's transport with some calls failing: `fail(name, call)` says whether the n-th call of `name` fails. */
function failingTransport(transport: ArchiveTransport, fail: (name: string, call: number) => boolean): ArchiveTransport {
	const calls = new Map<string, number>();
	return new Proxy(transport, {
		get: (target, name, receiver) => {
			const value: unknown = Reflect.get(target, name, receiver);
			if (typeof value !== 'function') return value;
			const real = (value as (...args: unknown[]) => unknown).bind(target);
			return (...args: unknown[]) => {
				const call = (calls.get(String(name)) ?? 0) + 1;
				calls.set(String(name), call);
				if (fail(String(name), call)) return Promise.reject(new Error('crash'));
				return real(...args);
			};
		}
	});
}

describe('repository keys of the archive channel', () => {
	let harness: ArchiveHarness;

	beforeEach(async () => {
		await harness?.close();
		harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
	});

	afterAll(async () => {
		await harness?.close();
	});

	it('GIVEN a channel without keys WHEN opened THEN they are made from USER_KEY, pinned and mirrored; a second open finds them without a PBKDF2, another process with one, and from the pin when SQLite lost them', async () => {
		await expect(openChannelKeys(harness.context)).rejects.toSatisfy((error) => isCoreError(error, CoreErrorCode.NotFound));
		const { value: made, runs } = await kdfRuns(() => openChannelKeys(harness.context, { create: true }));
		expect(runs).toBe(1);
		expect(made.keys.slots[0]?.iterations).toBe(testKdfIterations);
		// The passphrase in use is never kept among older archives' passphrases: only one a change retires.
		expect(made.keys.legacyPassphrases()).toEqual([]);
		expect(await pinnedKeys(harness)).toEqual([made.messageId]);
		expect(harness.index.repositoryKeys.get(harness.archiveChannelId)?.keysFile.equals(made.keys.file)).toBe(true);

		const again = await kdfRuns(() => openChannelKeys(harness.context, { create: true }));
		expect(again.runs).toBe(0);
		expect(again.value.keys.id).toBe(made.keys.id);

		const other = processWith(harness, testPassphrase);
		const fromSqlite = await kdfRuns(() => openChannelKeys(other, { create: true }));
		expect([fromSqlite.runs, fromSqlite.value.keys.id]).toEqual([1, made.keys.id]);

		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		const third = processWith(harness, testPassphrase);
		const fromPin = await openChannelKeys(third, { create: true });
		expect(fromPin.keys.id).toBe(made.keys.id);
		expect(fromPin.messageId).toBe(made.messageId);
		expect(harness.index.repositoryKeys.get(harness.archiveChannelId)?.messageId).toBe(made.messageId);
		expect(await pinnedKeys(harness)).toEqual([made.messageId]);
	});

	it('GIVEN three uploads starting together on a channel without keys WHEN each opens the keys THEN one repository is made and all three get it', async () => {
		const opened = await Promise.all([1, 2, 3].map(() => openChannelKeys(harness.context, { create: true })));
		expect(new Set(opened.map((keys) => keys.keys.id)).size).toBe(1);
		expect(await pinnedKeys(harness)).toEqual([opened[0]!.messageId]);
	});

	it('GIVEN two processes making the keys of a channel at the same time WHEN both open them THEN the older keys message wins, the other is removed, and both use one repository', async () => {
		const other = processWith(harness, testPassphrase);
		const [mine, theirs] = await Promise.all([openChannelKeys(harness.context, { create: true }), openChannelKeys(other, { create: true })]);
		expect(theirs.keys.id).toBe(mine.keys.id);
		expect(await pinnedKeys(harness)).toEqual([mine.messageId]);
		// Either process, opening again, stays on it.
		expect((await openChannelKeys(harness.context, { create: true })).keys.id).toBe(mine.keys.id);
		expect((await openChannelKeys(processWith(harness, testPassphrase), { create: true })).keys.id).toBe(mine.keys.id);
		expect(harness.index.repositoryKeys.get(harness.archiveChannelId)?.messageId).toBe(mine.messageId);
	});

	it('GIVEN an older keys message of the bot for another repository WHEN newer keys are opened THEN the older one is kept pinned, never deleted', async () => {
		const first = await openChannelKeys(harness.context, { create: true });
		// Newer keys of another repository, posted and pinned by the bot (as a race between two hosts once could leave).
		const newer = await createKeys(testPassphrase, { iterations: testKdfIterations, minIterations: testKdfIterations });
		const posted = await harness.transport.uploadFile(harness.archiveChannelId, { file: { name: REPOSITORY_KEYS_FILENAME, data: newer.file } });
		await harness.transport.pinMessage(harness.archiveChannelId, posted.messageId);
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		const opened = await openChannelKeys(processWith(harness, testPassphrase), { create: true });
		expect(opened.keys.id).toBe(newer.id);
		expect((await pinnedKeys(harness)).sort()).toEqual([first.messageId, posted.messageId].sort());
		expect(harness.logLines.some((line) => line.message.includes('another repository is kept pinned'))).toBe(true);
	});

	it('GIVEN a keys message posted and pinned by someone else WHEN the channel keys are opened THEN it is ignored and the bot makes its own', async () => {
		const forged = await createKeys(testPassphrase, { iterations: testKdfIterations, minIterations: testKdfIterations });
		const posted = await harness.emulator.postAs(harness.archiveChannelId, 'member', 'keys', [
			{ name: REPOSITORY_KEYS_FILENAME, data: forged.file.toString('base64') }
		]);
		await harness.transport.pinMessage(harness.archiveChannelId, posted.id);
		const opened = await openChannelKeys(harness.context, { create: true });
		expect(opened.keys.id).not.toBe(forged.id);
		expect(opened.messageId).not.toBe(posted.id);
		expect(harness.logLines.some((line) => line.message.includes('not posted by the bot'))).toBe(true);
	});

	it('GIVEN dos key passwd WHEN it completes THEN the old passphrase is refused everywhere, the new opens, older passphrases are kept and one keys message stays pinned', async () => {
		const made = await openChannelKeys(harness.context, { create: true });
		const { before, after } = await changeChannelPassphrase(harness.context, NEW_PASSPHRASE);
		expect(after.keys.id).toBe(made.keys.id);
		expect(after.keys.slots.map((slot) => slot.id)).toEqual([after.keys.openedSlot]);
		expect(after.keys.openedSlot).not.toBe(before.keys.openedSlot);
		expect(await pinnedKeys(harness)).toEqual([after.messageId]);
		expect(harness.emulator.messages(harness.archiveChannelId).some((message) => message.id === made.messageId)).toBe(false);

		// The running process with the old USER_KEY: its cache is gone, the mirror no longer opens, uploads are refused.
		const stale = await failure(openChannelKeys(harness.context));
		expect(isCoreError(stale, CoreErrorCode.WrongKey)).toBe(true);
		const refused = await failure(assertUploadKey(harness.context));
		expect(isCoreError(refused, CoreErrorCode.WrongKey)).toBe(true);
		expect((refused as Error).message).toMatch(/Set USER_KEY to the current passphrase/);
		const status = await channelKeysStatus(harness.context);
		expect(status).toMatchObject({
			state: 'locked',
			slots: [expect.objectContaining({ id: after.keys.openedSlot, iterations: testKdfIterations })]
		});
		// From the pin as well: SQLite lost, the old passphrase opens nothing.
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		expect(isCoreError(await failure(openChannelKeys(processWith(harness, testPassphrase))), CoreErrorCode.WrongKey)).toBe(true);

		const renewed = await openChannelKeys(processWith(harness, NEW_PASSPHRASE));
		// The retired passphrase is kept for format 1 archives; the new one is not (whoever knew an older passphrase and
		// kept an older copy of the file could open the master key and read it).
		expect(renewed.keys.legacyPassphrases()).toEqual([testPassphrase]);
		await assertUploadKey(processWith(harness, NEW_PASSPHRASE));
		expect(await channelKeysStatus(processWith(harness, NEW_PASSPHRASE))).toMatchObject({ state: 'open', legacyPassphrases: 1 });
	});

	it('GIVEN a passwd whose last step left the older keys message pinned WHEN a process with the old passphrase opens the keys THEN the newest keys are of record: WRONG_KEY, and the new passphrase clears the older pin', async () => {
		await openChannelKeys(harness.context, { create: true });
		// The last publish pins the new file, then fails to unpin the previous one (old and new slots).
		const stuck = failingTransport(harness.transport, (name, call) => name === 'unpinMessage' && call === 2);
		await failure(changeChannelPassphrase({ ...harness.context, transport: stuck }, NEW_PASSPHRASE));
		const pinned = await pinnedKeys(harness);
		expect(pinned.length).toBeGreaterThanOrEqual(2);
		for (const mirror of [true, false]) {
			if (!mirror) harness.index.repositoryKeys.remove(harness.archiveChannelId);
			expect(isCoreError(await failure(openChannelKeys(processWith(harness, testPassphrase))), CoreErrorCode.WrongKey)).toBe(true);
		}
		const opened = await openChannelKeys(processWith(harness, NEW_PASSPHRASE));
		expect(await pinnedKeys(harness)).toEqual([opened.messageId]);
		expect(opened.keys.slots).toHaveLength(1);
	});

	it('GIVEN the keys message unpinned by someone WHEN a host without the mirror opens the keys THEN it is found in the channel and pinned again, not replaced by a new repository', async () => {
		const made = await openChannelKeys(harness.context, { create: true });
		await harness.transport.unpinMessage(harness.archiveChannelId, made.messageId);
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		const found = await openChannelKeys(processWith(harness, testPassphrase), { create: true });
		expect(found.keys.id).toBe(made.keys.id);
		expect(found.messageId).toBe(made.messageId);
		expect(await pinnedKeys(harness)).toEqual([made.messageId]);
		// The passphrase of another repository does not make a new one over it either.
		await harness.transport.unpinMessage(harness.archiveChannelId, made.messageId);
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		const other = await failure(openChannelKeys(processWith(harness, NEW_PASSPHRASE), { create: true }));
		expect(isCoreError(other, CoreErrorCode.WrongKey)).toBe(true);
	});

	it('GIVEN a passwd interrupted after adding its slot WHEN passwd runs again with the new passphrase THEN only the newest slot remains: neither earlier passphrase opens', async () => {
		await openChannelKeys(harness.context, { create: true });
		// Step 1 (old and new slots) is published; the second post (old slot removed) fails.
		const interrupted = failingTransport(harness.transport, (name, call) => name === 'uploadFile' && call === 2);
		await failure(changeChannelPassphrase({ ...harness.context, transport: interrupted }, NEW_PASSPHRASE));
		const both = await openChannelKeys(processWith(harness, NEW_PASSPHRASE));
		expect(both.keys.slots).toHaveLength(2);
		const third = 'a third passphrase, after the interrupted change';
		const { after } = await changeChannelPassphrase(processWith(harness, NEW_PASSPHRASE), third);
		expect(after.keys.slots).toHaveLength(1);
		for (const passphrase of [testPassphrase, NEW_PASSPHRASE])
			expect(isCoreError(await failure(openChannelKeys(processWith(harness, passphrase))), CoreErrorCode.WrongKey)).toBe(true);
		expect((await openChannelKeys(processWith(harness, third))).keys.legacyPassphrases()).toEqual([testPassphrase, NEW_PASSPHRASE]);
	});

	it('GIVEN dos key passwd stopped at any post or pin (a crash) WHEN the keys are opened afterwards THEN the old or the new passphrase still opens them', async () => {
		// Two publishes (the new slot with the retired passphrase kept, then the old slot removed): a post and a pin each.
		for (let failAt = 1; failAt <= 4; failAt++) {
			await harness.close();
			harness = await startArchiveHarness({ emulator: { limits: { channelMessagesPerWindow: 1000 } } });
			await openChannelKeys(harness.context, { create: true });
			let calls = 0;
			const crash =
				<A extends unknown[], R>(real: (...args: A) => Promise<R>) =>
				async (...args: A): Promise<R> => {
					if (++calls === failAt) throw new Error('crash');
					return real(...args);
				};
			const transport = harness.transport;
			const overrides: Partial<ArchiveTransport> = {
				uploadFile: crash(transport.uploadFile.bind(transport)),
				pinMessage: crash(transport.pinMessage.bind(transport))
			};
			const crashing = new Proxy(transport, {
				get: (target, name, receiver) => {
					if (name in overrides) return overrides[name as keyof ArchiveTransport];
					const value: unknown = Reflect.get(target, name, receiver);
					return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
				}
			}) as ArchiveTransport;
			const outcome = await changeChannelPassphrase({ ...harness.context, transport: crashing }, NEW_PASSPHRASE).then(
				() => 'done',
				(error: unknown) => (error as Error).message
			);
			const opens = async (passphrase: string) =>
				openChannelKeys(processWith(harness, passphrase)).then(
					() => true,
					() => false
				);
			const [old, fresh] = [await opens(testPassphrase), await opens(NEW_PASSPHRASE)];
			expect({ failAt, outcome, some: old || fresh }).toEqual({ failAt, outcome: 'crash', some: true });
		}
	});

	it('GIVEN a format 1 archive uploaded under the old passphrase WHEN downloaded after dos key passwd with the new USER_KEY THEN it restores byte-identical', async () => {
		const source = await harness.writeTree('before-passwd', {
			'a.bin': randomContent(150_000, 'old'),
			'notes/b.txt': 'sealed with the old key\n'
		});
		const { archive } = await postTestArchive(harness, 'before-passwd');
		await openChannelKeys(harness.context, { create: true });
		await changeChannelPassphrase(harness.context, NEW_PASSPHRASE);
		const renewed = processWith(harness, NEW_PASSPHRASE);
		const result = await downloadArchive(renewed, { archive: archive.id }, harness.jobRun());
		expect(await treeDigest(result.restoredTo)).toEqual(await treeDigest(source));
		// Without the keys kept, the new USER_KEY alone does not open it.
		harness.index.repositoryKeys.remove(harness.archiveChannelId);
		for (const id of await pinnedKeys(harness)) await harness.transport.deleteMessage(harness.archiveChannelId, id);
		const alone = await failure(downloadArchive(processWith(harness, NEW_PASSPHRASE), { archive: archive.id }, harness.jobRun()));
		expect(isCoreError(alone, CoreErrorCode.WrongKey)).toBe(true);
	});
});
