import { Writable } from 'node:stream';
import { assertPassphrase, CoreError, CoreErrorCode, isCoreError, throwIfAborted } from '../core/index.js';
import {
	createKeys,
	type KeySlot,
	listSlots,
	MAX_KEYS_FILE_BYTES,
	type RepositoryKeys,
	rotatePassphrase,
	SLOT_KDF_ITERATIONS,
	unlockKeys
} from '../core/repo/keys.js';
import type { LiveMessage } from '../discord/index.js';
import type { ArchiveContext } from './context.js';

/**
 * The format 2 repository keys of the archive channel (docs/design.md, "Repository keys"): one keys file, posted by
 * the bot as an attachment of this fixed name and pinned in the archive channel, mirrored in SQLite. Made on first use
 * from USER_KEY; rotated on the host only (`dos key passwd`), never through Discord.
 */
export const REPOSITORY_KEYS_FILENAME = 'dos-repository.keys';

/** The line posted with the keys file (nothing secret: every key in the file is sealed). */
const KEYS_MESSAGE =
	'🔑 Repository keys of this archive channel (sealed; keep this message pinned). Change the passphrase with `dos key passwd` on the host.';

/** The channel's keys, opened with USER_KEY, and the message that holds them. */
export interface ChannelKeys {
	readonly keys: RepositoryKeys;
	readonly messageId: string;
	readonly attachmentId: string;
}

/** What `/archive status` and `dos key list` show of the channel's keys. */
export type RepositoryKeysStatus =
	| { readonly state: 'none' }
	| {
			readonly state: 'open';
			readonly repositoryId: string;
			readonly slots: readonly KeySlot[];
			readonly openedSlot: string;
			readonly legacyPassphrases: number;
	  }
	| { readonly state: 'locked'; readonly repositoryId: string; readonly slots: readonly KeySlot[] }
	| { readonly state: 'unavailable'; readonly reason: string };

/** Options of {@link openChannelKeys}. */
export interface OpenChannelKeysOptions {
	/** Make the keys from USER_KEY when the channel has none (default false: NOT_FOUND then). */
	readonly create?: boolean;
	/**
	 * Only read (a dry run): the keys found are opened but not mirrored in SQLite, nothing is pinned, unpinned or
	 * deleted, and none are made (`create` is ignored).
	 */
	readonly readOnly?: boolean;
	readonly signal?: AbortSignal;
}

interface CachedKeys {
	readonly passphrase: string;
	readonly opened: ChannelKeys;
}

/** Keys unlocked in this process, per index (one per process) and channel: one PBKDF2 per unlock, not per job. */
const unlocked = new WeakMap<object, Map<string, CachedKeys>>();

function cacheOf(ctx: ArchiveContext): Map<string, CachedKeys> {
	let cache = unlocked.get(ctx.index);
	if (cache === undefined) {
		cache = new Map();
		unlocked.set(ctx.index, cache);
	}
	return cache;
}

/** The least PBKDF2 count a slot may record here: the format's, or the lower one tests configure. */
function slotOptions(ctx: ArchiveContext): { iterations: number; minIterations: number } {
	const iterations = ctx.settings.kdfIterations ?? SLOT_KDF_ITERATIONS;
	return { iterations, minIterations: Math.min(iterations, SLOT_KDF_ITERATIONS) };
}

/**
 * The archive channel's repository keys opened with USER_KEY. The keys of record are the bot's newest keys message:
 * the SQLite mirror (no request when it is the newest and opens) or a message pinned in the channel — only messages by
 * the bot itself, with an attachment of the fixed name and at most {@link MAX_KEYS_FILE_BYTES} bytes (checked before
 * downloading). When the newest does not open with USER_KEY, older ones are not tried (WRONG_KEY: the passphrase was
 * changed); a damaged copy gives way to the next newest. Once opened, the keys are mirrored and the bot's older keys
 * messages unpinned and deleted. Unlocked keys are kept for the process while the mirror holds the same file, so a
 * PBKDF2 runs once per unlock. With nothing pinned or mirrored, the bot's keys messages among the channel's newest
 * 1,000 are looked for (an unpinned one is pinned again) before, with `create`, new keys are made from USER_KEY,
 * posted, pinned and mirrored.
 *
 * @throws {CoreError} NO_KEY; WRONG_KEY when USER_KEY opens no slot (never replaced by new keys); NOT_FOUND when the
 * channel has no keys and `create` is off; TAMPERED_CHUNK / BAD_FORMAT for a damaged keys file; TransportError.
 */
export async function openChannelKeys(ctx: ArchiveContext, options: OpenChannelKeysOptions = {}): Promise<ChannelKeys> {
	// One at a time per channel in this process: uploads started together on a channel with no keys yet would each make
	// a repository of their own, and all but the newest would be sealed under keys nobody opens any more.
	return serialized(ctx, () => openChannelKeysNow(ctx, options));
}

/** Opens of each channel's keys in this process, chained, per index (one per process). */
const opening = new WeakMap<object, Map<string, Promise<unknown>>>();

function serialized<T>(ctx: ArchiveContext, run: () => Promise<T>): Promise<T> {
	let chains = opening.get(ctx.index);
	if (chains === undefined) {
		chains = new Map();
		opening.set(ctx.index, chains);
	}
	const channelId = ctx.settings.archiveChannelId;
	const result = (chains.get(channelId) ?? Promise.resolve()).then(run);
	const tail = result.catch(() => undefined);
	chains.set(channelId, tail);
	void tail.then(() => {
		if (chains.get(channelId) === tail) chains.delete(channelId);
	});
	return result;
}

async function openChannelKeysNow(ctx: ArchiveContext, options: OpenChannelKeysOptions): Promise<ChannelKeys> {
	const passphrase = ctx.settings.passphrase;
	assertPassphrase(passphrase);
	const channelId = ctx.settings.archiveChannelId;
	const cache = cacheOf(ctx);
	const row = ctx.index.repositoryKeys.get(channelId);
	const cached = cache.get(channelId);
	if (row !== undefined && cached !== undefined && cached.passphrase === passphrase && cached.opened.keys.file.equals(row.keysFile)) {
		return cached.opened;
	}
	const { minIterations } = slotOptions(ctx);
	const unlockOptions = { minIterations, ...(options.signal ? { signal: options.signal } : {}) };
	// Every publish posts a new message, so the newest keys message of the bot (a snowflake orders them) is the keys
	// of record: an older one left pinned by an interrupted change, or pinned again by someone who may, is never
	// opened in its place. The mirror counts as its message; a pin newer than it (a change made on another host) wins.
	const candidates: { readonly messageId: string; readonly open: () => Promise<ChannelKeys> }[] = [];
	if (row !== undefined)
		candidates.push({
			messageId: row.messageId,
			open: async () => ({
				keys: await unlockKeys(row.keysFile, passphrase, unlockOptions),
				messageId: row.messageId,
				attachmentId: row.attachmentId
			})
		});
	const pinned = await pinnedKeys(ctx, options.signal);
	for (const candidate of pinned)
		if (candidate.messageId !== row?.messageId)
			candidates.push({
				messageId: candidate.messageId,
				open: async () => ({
					keys: await unlockKeys(await downloadKeys(ctx, candidate, options.signal), passphrase, unlockOptions),
					messageId: candidate.messageId,
					attachmentId: candidate.attachmentId
				})
			});
	candidates.sort((a, b) => compareSnowflakes(b.messageId, a.messageId));
	let damaged: CoreError | undefined;
	for (const candidate of candidates) {
		let opened: ChannelKeys;
		try {
			opened = await candidate.open();
		} catch (error) {
			if (!isCoreError(error) || isCoreError(error, CoreErrorCode.Aborted)) throw error;
			// The newest keys do not open with USER_KEY: the passphrase was changed. Older keys are not tried.
			if (isCoreError(error, CoreErrorCode.WrongKey) || isCoreError(error, CoreErrorCode.NoKey)) throw explainFailure(error);
			// A damaged copy (a mirror written over, an attachment that does not parse): the next newest may open.
			damaged ??= error;
			continue;
		}
		if (options.readOnly === true) return opened;
		const older = pinned.filter((other) => compareSnowflakes(other.messageId, opened.messageId) < 0);
		return remember(ctx, opened, older, options.signal);
	}
	if (damaged !== undefined) throw damaged;
	// No keys pinned or mirrored. Keys unpinned by someone (or mirrored on another host only) must not be replaced by a
	// new repository: the bot's keys messages still in the channel's recent history are looked for first.
	const unpinned = await recentKeys(ctx, options.signal);
	for (const candidate of unpinned) {
		try {
			const keys = await unlockKeys(await downloadKeys(ctx, candidate, options.signal), passphrase, unlockOptions);
			if (options.readOnly === true) return { keys, messageId: candidate.messageId, attachmentId: candidate.attachmentId };
			await ctx.transport.pinMessage(channelId, candidate.messageId, options.signal ? { signal: options.signal } : {});
			ctx.log('warn', 'the repository keys message was no longer pinned: it was found in the channel and pinned again', {
				messageId: candidate.messageId
			});
			return await remember(ctx, { keys, messageId: candidate.messageId, attachmentId: candidate.attachmentId }, [], options.signal);
		} catch (error) {
			if (!isCoreError(error) || isCoreError(error, CoreErrorCode.Aborted)) throw error;
			if (isCoreError(error, CoreErrorCode.WrongKey) || isCoreError(error, CoreErrorCode.NoKey)) throw explainFailure(error);
		}
	}
	if (options.create !== true || options.readOnly === true) {
		throw new CoreError(CoreErrorCode.NotFound, 'This archive channel has no repository keys yet: they are made on first use from USER_KEY.');
	}
	const created = await createKeys(passphrase, { ...slotOptions(ctx), ...(options.signal ? { signal: options.signal } : {}) });
	const published = await publishKeys(ctx, created, [], options.signal);
	// Another process (the CLI beside the bot) may have made keys at the same time. The oldest keys message wins, as
	// every process making keys sees it once its own is pinned: these keys, which nothing is sealed under yet, give way.
	const rival = (await pinnedKeys(ctx, options.signal)).find((other) => compareSnowflakes(other.messageId, published.messageId) < 0);
	if (rival !== undefined) {
		const call = options.signal ? { signal: options.signal } : {};
		await ctx.transport.unpinMessage(channelId, published.messageId, call);
		await ctx.transport.deleteMessage(channelId, published.messageId, call);
		ctx.index.repositoryKeys.remove(channelId);
		ctx.log('warn', 'repository keys were made at the same time elsewhere: the older ones are used and these removed', {
			messageId: published.messageId,
			kept: rival.messageId
		});
		return openChannelKeysNow(ctx, { ...options, create: false });
	}
	ctx.log('info', 'repository keys made and pinned in the archive channel', { repositoryId: created.id, messageId: published.messageId });
	return cacheKeys(ctx, passphrase, published);
}

/** Orders two snowflakes (message ids) by time: negative when `a` is older. */
function compareSnowflakes(a: string, b: string): number {
	const x = BigInt(a);
	const y = BigInt(b);
	return x < y ? -1 : x > y ? 1 : 0;
}

/** How many of the channel's newest messages are searched for an unpinned keys message before new keys are made. */
const UNPINNED_SEARCH_MESSAGES = 1000;

/** The bot's keys messages among the channel's newest messages (pinned or not), newest first, size-bounded. */
async function recentKeys(ctx: ArchiveContext, signal?: AbortSignal): Promise<PinnedKeys[]> {
	const self = await ctx.transport.selfUserId(signal ? { signal } : {});
	const recent = await ctx.transport.recentMessages(ctx.settings.archiveChannelId, {
		limit: UNPINNED_SEARCH_MESSAGES,
		...(signal ? { signal } : {})
	});
	return keysMessages(ctx, recent, self).sort((a, b) => compareSnowflakes(b.messageId, a.messageId));
}

/**
 * Keeps opened keys for the process and mirrors them (when the mirror holds another file); unpins and deletes the
 * bot's `older` keys messages, which nothing opens in their place any more. The current passphrase is never added to
 * the passphrases of older archives: whoever knew an earlier passphrase, with an earlier copy of the file, could open
 * the master key and read it (only retired passphrases are kept: `dos key passwd` adds the one it retires).
 */
async function remember(ctx: ArchiveContext, opened: ChannelKeys, older: readonly PinnedKeys[], signal?: AbortSignal): Promise<ChannelKeys> {
	const channelId = ctx.settings.archiveChannelId;
	const row = ctx.index.repositoryKeys.get(channelId);
	if (row === undefined || !row.keysFile.equals(opened.keys.file) || row.messageId !== opened.messageId) {
		ctx.index.repositoryKeys.put({
			channelId,
			repositoryId: opened.keys.id,
			keysFile: opened.keys.file,
			messageId: opened.messageId,
			attachmentId: opened.attachmentId
		});
	}
	for (const { messageId, ...pinned } of older) {
		try {
			// Only an older copy of the same repository (a passphrase change) is retired. Keys of another repository are
			// what archives sealed under them need: they stay pinned, whatever made them.
			const { repositoryId } = listSlots(await downloadKeys(ctx, { messageId, ...pinned }, signal), { minIterations: 1 });
			if (repositoryId !== opened.keys.id) {
				ctx.log('warn', 'an older keys message of another repository is kept pinned: archives sealed under it need it', {
					messageId,
					repositoryId
				});
				continue;
			}
			await ctx.transport.unpinMessage(channelId, messageId, signal ? { signal } : {});
			await ctx.transport.deleteMessage(channelId, messageId, signal ? { signal } : {});
			ctx.log('info', 'an older repository keys message was unpinned and deleted', { messageId });
		} catch (error) {
			if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
			ctx.log('warn', 'an older repository keys message could not be removed', {
				messageId,
				error: error instanceof Error ? error.message : String(error)
			});
		}
	}
	return cacheKeys(ctx, ctx.settings.passphrase!, opened);
}

function cacheKeys(ctx: ArchiveContext, passphrase: string, opened: ChannelKeys): ChannelKeys {
	cacheOf(ctx).set(ctx.settings.archiveChannelId, { passphrase, opened });
	return opened;
}

function explainFailure(error: unknown): unknown {
	if (!isCoreError(error, CoreErrorCode.WrongKey)) return error;
	return new CoreError(
		CoreErrorCode.WrongKey,
		"USER_KEY opens none of the key slots of this archive channel: it is not the channel's passphrase, or that was changed with `dos key passwd`. Set USER_KEY to the current passphrase and restart.",
		{},
		{ cause: error }
	);
}

interface PinnedKeys {
	readonly messageId: string;
	readonly attachmentId: string;
	readonly size: number;
	readonly message: LiveMessage;
}

/** The keys messages pinned in the archive channel by the bot itself, most recently pinned first, size-bounded. */
async function pinnedKeys(ctx: ArchiveContext, signal?: AbortSignal): Promise<PinnedKeys[]> {
	const self = await ctx.transport.selfUserId(signal ? { signal } : {});
	return keysMessages(ctx, await ctx.transport.pinnedMessages(ctx.settings.archiveChannelId, signal ? { signal } : {}), self);
}

/** Of these messages, the bot's own with a keys attachment of at most {@link MAX_KEYS_FILE_BYTES} (others are logged). */
function keysMessages(ctx: ArchiveContext, messages: readonly LiveMessage[], self: string): PinnedKeys[] {
	const found: PinnedKeys[] = [];
	for (const message of messages) {
		const attachment = message.attachments.find((candidate) => candidate.filename === REPOSITORY_KEYS_FILENAME);
		if (attachment === undefined) continue;
		if (message.authorId !== self) {
			ctx.log('warn', 'a repository keys message not posted by the bot was ignored', {
				messageId: message.id,
				authorId: message.authorId
			});
			continue;
		}
		if (attachment.size > MAX_KEYS_FILE_BYTES) {
			ctx.log('warn', 'a repository keys message larger than any keys file was ignored', {
				messageId: message.id,
				size: attachment.size
			});
			continue;
		}
		found.push({ messageId: message.id, attachmentId: attachment.id, size: attachment.size, message });
	}
	return found;
}

/** Downloads a pinned keys file into memory, at most its listed size (itself bounded). */
async function downloadKeys(ctx: ArchiveContext, pinned: PinnedKeys, signal?: AbortSignal): Promise<Buffer> {
	const parts: Buffer[] = [];
	let received = 0;
	const sink = new Writable({
		write(piece: Buffer, _encoding, callback) {
			received += piece.length;
			if (received > pinned.size) {
				callback(new CoreError(CoreErrorCode.TamperedChunk, 'The keys attachment is larger than Discord lists it.'));
				return;
			}
			parts.push(piece);
			callback();
		}
	});
	sink.on('error', () => undefined);
	const live = pinned.message.attachments.find((attachment) => attachment.id === pinned.attachmentId);
	await ctx.transport.downloadAttachment(
		{ channelId: ctx.settings.archiveChannelId, messageId: pinned.messageId, attachmentId: pinned.attachmentId },
		{ stream: sink },
		{ expectedSize: pinned.size, ...(live ? { live } : {}), ...(signal ? { signal } : {}) }
	);
	return Buffer.concat(parts);
}

/** Where a keys file was posted. */
interface KeysMessage {
	readonly messageId: string;
	readonly attachmentId: string;
}

/**
 * Posts a keys file as the channel's keys message: posted, pinned, mirrored in SQLite, and only then the `previous` keys
 * messages unpinned and deleted. Every step leaves a pinned message and a mirror that open with some passphrase.
 */
async function publishFile(
	ctx: ArchiveContext,
	file: Buffer,
	repositoryId: string,
	previous: readonly string[],
	signal?: AbortSignal
): Promise<KeysMessage> {
	const channelId = ctx.settings.archiveChannelId;
	const call = signal ? { signal } : {};
	const posted = await ctx.transport.uploadFile(channelId, {
		file: { name: REPOSITORY_KEYS_FILENAME, data: file },
		content: KEYS_MESSAGE,
		...call
	});
	const attachmentId = posted.attachments[0]!.id;
	await ctx.transport.pinMessage(channelId, posted.messageId, call);
	ctx.index.repositoryKeys.put({ channelId, repositoryId, keysFile: file, messageId: posted.messageId, attachmentId });
	for (const messageId of previous) {
		if (messageId === posted.messageId) continue;
		await ctx.transport.unpinMessage(channelId, messageId, call);
		await ctx.transport.deleteMessage(channelId, messageId, call);
	}
	return { messageId: posted.messageId, attachmentId };
}

/** {@link publishFile} for opened keys. */
async function publishKeys(ctx: ArchiveContext, keys: RepositoryKeys, previous: readonly string[], signal?: AbortSignal): Promise<ChannelKeys> {
	return { keys, ...(await publishFile(ctx, keys.file, keys.id, previous, signal)) };
}

/**
 * Changes the passphrase of the channel's keys (`dos key passwd`), on the host only: USER_KEY opens them and is kept,
 * sealed, as a passphrase of older archives (the new passphrase never is); then, as for a local repository
 * ({@link rotatePassphrase}), a slot for the new passphrase is added and published, the published file is read back
 * from the pin and opened with the new passphrase, and the old slot is removed and published. Each publish pins the
 * new message and mirrors it before the previous one is unpinned and deleted, so a crash at any step leaves keys that
 * USER_KEY or the new passphrase opens; the last step removes every slot but the new one. Nothing is uploaded again:
 * the master key stays (so whoever knew an old passphrase and kept a copy of an old keys file can still open it: only
 * a new repository revokes that).
 *
 * @throws as {@link openChannelKeys} and {@link rotatePassphrase}.
 */
export async function changeChannelPassphrase(
	ctx: ArchiveContext,
	newPassphrase: string,
	options: { readonly signal?: AbortSignal } = {}
): Promise<{ readonly before: ChannelKeys; readonly after: ChannelKeys }> {
	assertPassphrase(newPassphrase);
	const before = await openChannelKeys(ctx, { ...options, create: true });
	// The passphrase being retired is kept (format 1 and original-tool archives were sealed with it), sealed in the
	// same file as the new slot. The new passphrase never is: see remember().
	const retiring = ctx.settings.passphrase!;
	const keeping = before.keys.legacyPassphrases().includes(retiring) ? before.keys : before.keys.withLegacyPassphrase(retiring);
	let message: KeysMessage = before;
	const rotated = await rotatePassphrase(
		keeping,
		newPassphrase,
		{
			save: async (file) => {
				throwIfAborted(options.signal);
				message = await publishFile(ctx, file, before.keys.id, [message.messageId], options.signal);
			},
			load: async () => {
				const pinned = (await pinnedKeys(ctx, options.signal)).find((candidate) => candidate.messageId === message.messageId);
				if (pinned === undefined)
					throw new CoreError(CoreErrorCode.NotFound, 'The keys message just pinned is no longer pinned in the archive channel.');
				return downloadKeys(ctx, pinned, options.signal);
			}
		},
		// Every other slot goes too: one left by an interrupted earlier change must not outlive this one.
		{ ...slotOptions(ctx), removeOthers: true, ...(options.signal ? { signal: options.signal } : {}) }
	);
	// This process's USER_KEY is still the old passphrase, which opens nothing now: nothing of it stays cached.
	cacheOf(ctx).delete(ctx.settings.archiveChannelId);
	return { before, after: { keys: rotated, ...message } };
}

/**
 * The channel's keys as `/archive status` and `dos key list` show them: `open` (USER_KEY opens a slot), `locked`
 * (it opens none: uploads are refused until USER_KEY is the current passphrase), `none` (not made yet), or
 * `unavailable` (Discord or the index could not be read; the reason says which). Never throws but ABORTED.
 */
export async function channelKeysStatus(ctx: ArchiveContext, signal?: AbortSignal): Promise<RepositoryKeysStatus> {
	const row = ctx.index.repositoryKeys.get(ctx.settings.archiveChannelId);
	const listed = () => {
		try {
			return row === undefined ? undefined : listSlots(row.keysFile, { minIterations: slotOptions(ctx).minIterations });
		} catch {
			return undefined;
		}
	};
	try {
		const { keys } = await openChannelKeys(ctx, signal ? { signal } : {});
		return { state: 'open', repositoryId: keys.id, slots: keys.slots, openedSlot: keys.openedSlot, legacyPassphrases: keys.legacyCount };
	} catch (error) {
		if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
		if (isCoreError(error, CoreErrorCode.NotFound)) return { state: 'none' };
		if (isCoreError(error, CoreErrorCode.WrongKey) || isCoreError(error, CoreErrorCode.NoKey)) {
			const slots = listed();
			return { state: 'locked', repositoryId: slots?.repositoryId ?? '', slots: slots?.slots ?? [] };
		}
		return { state: 'unavailable', reason: error instanceof Error ? error.message : String(error) };
	}
}

/**
 * Refuses a new upload while the channel has repository keys that USER_KEY does not open (the passphrase was changed on
 * the host, and this process still runs with the old one). A channel without keys yet, or keys that cannot be read
 * right now, do not stop a format 1 upload (it does not use them); that is logged.
 *
 * @throws {CoreError} WRONG_KEY saying to set USER_KEY to the current passphrase.
 */
export async function assertUploadKey(ctx: ArchiveContext, signal?: AbortSignal): Promise<void> {
	try {
		await openChannelKeys(ctx, signal ? { signal } : {});
	} catch (error) {
		if (isCoreError(error, CoreErrorCode.WrongKey)) {
			throw new CoreError(
				CoreErrorCode.WrongKey,
				'No upload was started: USER_KEY is no longer the passphrase of this archive channel (it was changed with `dos key passwd`). Set USER_KEY to the current passphrase and restart the bot (or run the command again).',
				{},
				{ cause: error }
			);
		}
		if (isCoreError(error, CoreErrorCode.Aborted)) throw error;
		if (!isCoreError(error, CoreErrorCode.NotFound) && !isCoreError(error, CoreErrorCode.NoKey)) {
			ctx.log('warn', 'the repository keys could not be checked before an upload', {
				error: error instanceof Error ? error.message : String(error)
			});
		}
	}
}

/**
 * The passphrases of older archives the channel's keys keep (those a `dos key passwd` retired), USER_KEY left out.
 * None when there are no keys or USER_KEY does not open them (it is not the current passphrase: nothing else to try).
 *
 * @throws TransportError when Discord stays unavailable (the keys could not be read: saying the key is wrong would be
 * a guess); ABORTED.
 */
export async function keptPassphrases(ctx: ArchiveContext, signal: AbortSignal | undefined): Promise<string[]> {
	const userKey = ctx.settings.passphrase;
	try {
		return (await openChannelKeys(ctx, signal ? { signal } : {})).keys.legacyPassphrases().filter((passphrase) => passphrase !== userKey);
	} catch (error) {
		if (isCoreError(error) && error.code !== CoreErrorCode.Aborted) return [];
		throw error;
	}
}

/**
 * Runs `attempt` with USER_KEY, and when it fails WRONG_KEY, again with each passphrase of older archives the channel's
 * keys keep (format 1 and original-tool archives are sealed with the passphrase they were made under, which a
 * `dos key passwd` replaced). The one seam where a passphrase meets an older archive's ciphertext goes through this.
 * Without keys that USER_KEY opens there is nothing else to try: the first failure stands.
 *
 * @throws the first attempt's error when no other passphrase opens; any other error of an attempt as it is.
 */
export async function withArchivePassphrases<R>(
	ctx: ArchiveContext,
	signal: AbortSignal | undefined,
	attempt: (passphrase: string | undefined, first: boolean) => Promise<R>
): Promise<R> {
	const userKey = ctx.settings.passphrase;
	try {
		return await attempt(userKey, true);
	} catch (error) {
		if (!isCoreError(error, CoreErrorCode.WrongKey) || userKey === undefined || userKey.length === 0) throw error;
		for (const passphrase of await keptPassphrases(ctx, signal)) {
			try {
				return await attempt(passphrase, false);
			} catch (retry) {
				if (!isCoreError(retry, CoreErrorCode.WrongKey)) throw retry;
			}
		}
		throw error;
	}
}
