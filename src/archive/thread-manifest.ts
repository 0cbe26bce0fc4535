import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
	type ArchiveKey,
	ArchiveKeyCache,
	assertSafeName,
	CONTAINER_OVERHEAD,
	CoreError,
	CoreErrorCode,
	decodeChunkHeader,
	fromFsError,
	isLegacyManifestName,
	LEGACY_MAX_MANIFEST_BYTES,
	type LegacyManifest,
	type Manifest,
	openManifest,
	parseLegacyManifest,
	parseStagedName,
	sha256Hex
} from '../core/index.js';
import { ArchiveFormat, ChunkKind, type ChunkRecord } from '../db/index.js';
import { withArchivePassphrases } from './repository-keys.js';
import type { ArchiveContext, JobRun } from './context.js';
import { fetchToMemory, type ThreadAttachment, type ThreadRef } from './thread-reader.js';

/**
 * An archive's manifest read from its thread: ours (sealed parts, opened with the key) and the original tool's (a plain
 * JSON file, pinned to the one the index recorded). Used by downloads, verification and rebuilds.
 */

/** An opened manifest, the archive key and how many manifest parts were fetched. */
export interface OpenedArchiveManifest {
	readonly manifest: Manifest;
	readonly key: ArchiveKey;
	readonly fetched: number;
	/** The parts used, by part index, with the sha256 and size of their bytes. */
	readonly parts: ReadonlyMap<number, { readonly item: ThreadAttachment; readonly sha256: string; readonly size: number }>;
	/** Attachments named like a part of this manifest that were left out, and why (also logged as a warning). */
	readonly ignored: readonly IgnoredManifestPart[];
}

/** An attachment named like a manifest part that {@link openArchiveManifest} did not use. */
export interface IgnoredManifestPart {
	readonly messageId: string;
	readonly filename: string;
	readonly authorId: string;
	readonly reason: string;
}

/**
 * The most part indexes a manifest is read with: a sealed manifest part holds up to a chunk of gzipped JSON, so even a
 * 64 KiB chunk size gives room for hundreds of thousands of entries. A higher index is someone's post.
 */
export const MAX_MANIFEST_PARTS = 64;

/**
 * Fetches the manifest parts of one of our archives from its thread and opens them with the key: one PBKDF2, and a
 * wrong key fails here, before any data chunk. With `chunkDir`, the parts are also written there (so the chunk folder
 * is a staged folder `dos assemble` reads).
 *
 * Only what the bot itself posted is a candidate. Before anything is fetched, attachments larger than a manifest part
 * can be (chunk size + container overhead, or the attachment limit when larger) and part indexes from
 * {@link MAX_MANIFEST_PARTS} up are left out. Of several copies of a part, the one the index recorded wins, else the
 * newest. Part 0 is fetched first; then only parts below the count in its header and carrying its uid are kept. Every
 * attachment left out is reported in `ignored` (and logged), never a reason to fail. A part counts as known intact
 * (the WRONG_KEY-versus-damage decision) only when its bytes match the sha256 the index recorded — never merely the
 * hash in its name, which whoever posts it chooses.
 *
 * `keys` derives the key across several calls (a rebuild's candidate part sets); by default a fresh one that refuses
 * a PBKDF2 count other than the index's record of the archive.
 *
 * @throws {CoreError} NO_KEY; WRONG_KEY; MISSING_CHUNK when the thread holds no manifest (an upload that did not
 * finish) or a part is missing; TAMPERED_CHUNK naming a damaged part (or a header asking for another PBKDF2 count
 * than recorded); MISPLACED_CHUNK; BAD_FORMAT.
 */
export async function openArchiveManifest(
	ctx: ArchiveContext,
	archive: ThreadRef,
	listed: readonly ThreadAttachment[],
	run: Pick<JobRun, 'signal'>,
	chunkDir?: string,
	keys?: ArchiveKeyCache
): Promise<OpenedArchiveManifest> {
	const records = new Map(
		archive.lot === undefined ? [] : ctx.index.chunks.list(archive.lot, { kind: ChunkKind.Manifest }).map((row) => [row.index, row] as const)
	);
	const largest = Math.max(ctx.settings.chunkSize + CONTAINER_OVERHEAD, ctx.settings.attachmentLimit);
	const ignored: IgnoredManifestPart[] = [];
	const ignore = (item: ThreadAttachment, reason: string) =>
		ignored.push({ messageId: item.messageId, filename: item.attachment.filename, authorId: item.authorId, reason });
	const parts = new Map<number, ThreadAttachment>();
	for (const item of listed) {
		const name = parseStagedName(item.attachment.filename);
		if (name?.kind !== 'manifest' || name.archiveId !== archive.id) continue;
		if (!item.byBot) {
			ignore(item, 'not posted by the bot');
			continue;
		}
		if (item.attachment.size > largest) {
			ignore(item, `${item.attachment.size} bytes, more than a manifest part can hold (${largest})`);
			continue;
		}
		if (name.index >= MAX_MANIFEST_PARTS) {
			ignore(item, `part index ${name.index}, beyond the ${MAX_MANIFEST_PARTS} parts a manifest is read with`);
			continue;
		}
		const recorded = records.get(name.index)?.attachmentId;
		const current = parts.get(name.index);
		if (current === undefined || recorded === item.attachment.id || current.attachment.id !== recorded) parts.set(name.index, item);
	}
	const reportIgnored = () => {
		if (ignored.length === 0) return;
		ctx.log('warn', 'attachments named like manifest parts were ignored', {
			archiveId: archive.id,
			threadId: archive.threadId,
			ignored: ignored.map((entry) => `${entry.filename} (message ${entry.messageId}): ${entry.reason}`)
		});
	};
	if (parts.size === 0) {
		reportIgnored();
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The thread of archive ${archive.id} holds no manifest posted by the bot: its upload did not finish. Resume the upload, or run a quick verify.`
		);
	}
	if (!parts.has(0)) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`Part 0 of the manifest of ${archive.id} is not in its thread: 1 or more manifest part(s) are missing. Resume the upload, or run a quick verify.`
		);
	}
	const inputs: { bytes: Buffer; intact: boolean; label: string }[] = [];
	const partHashes = new Map<number, { item: ThreadAttachment; sha256: string; size: number }>();
	let first: { readonly count: number; readonly uid: Buffer } | undefined;
	for (const [index, item] of [...parts].sort(([a], [b]) => a - b)) {
		if (first !== undefined && index >= first.count) {
			ignore(item, `part ${index}, but part 0 says the manifest has ${first.count} part(s)`);
			continue;
		}
		const record = records.get(index);
		const expectedSha256 = record?.attachmentId === item.attachment.id ? (record.sha256 ?? undefined) : undefined;
		const bytes = await fetchToMemory(ctx, archive, item, { index, kind: 'manifest', expectedSha256 }, run.signal);
		const label = `manifest part ${index} of ${archive.id}`;
		if (index === 0) {
			const header = decodeChunkHeader(bytes, label);
			first = { count: header.count, uid: header.uid };
		} else if (first !== undefined && !decodeChunkHeader(bytes, label).uid.equals(first.uid)) {
			ignore(item, 'its header names another archive than part 0');
			continue;
		}
		const digest = sha256Hex(bytes);
		const nameHash = parseStagedName(item.attachment.filename)?.hash;
		if (nameHash !== undefined && !digest.startsWith(nameHash)) {
			throw new CoreError(
				CoreErrorCode.TamperedChunk,
				`Manifest part ${index + 1} of ${archive.id} (${item.attachment.filename}, message ${item.messageId}) does not match the hash in its name: it was damaged on Discord.`
			);
		}
		partHashes.set(index, { item, sha256: digest, size: bytes.length });
		if (chunkDir !== undefined) await writeChunkFile(path.join(chunkDir, item.attachment.filename), bytes);
		inputs.push({ bytes, intact: expectedSha256 !== undefined, label });
	}
	reportIgnored();
	// The header's PBKDF2 count is not authenticated: one other than the index recorded is refused before deriving.
	const recordedIterations = archive.lot === undefined ? undefined : (ctx.index.archives.get(archive.lot)?.kdfIterations ?? undefined);
	// USER_KEY, then the passphrases the channel's keys keep for archives made before a `dos key passwd`.
	const opened = await withArchivePassphrases(ctx, run.signal, (passphrase, first) =>
		openManifest(inputs, passphrase, {
			signal: run.signal,
			keys:
				first && keys !== undefined
					? keys
					: new ArchiveKeyCache(passphrase, recordedIterations === undefined ? {} : { expectedIterations: recordedIterations })
		})
	);
	if (archive.uid !== undefined && opened.manifest.uid !== archive.uid) {
		throw new CoreError(
			CoreErrorCode.MisplacedChunk,
			`The manifest in the thread of ${archive.id} belongs to another archive (uid ${opened.manifest.uid}, not ${archive.uid}). Rebuild the index.`
		);
	}
	return { ...opened, fetched: inputs.length, parts: partHashes, ignored };
}

/** The JSON manifest of a legacy archive, fetched from its thread (no key needed: it is plain JSON). */
export interface FetchedLegacyManifest {
	readonly manifest: LegacyManifest;
	/** Its attachment's file name. */
	readonly file: string;
	readonly messageId: string;
	readonly attachmentId: string;
	readonly size: number;
	/** sha256 of the manifest file. */
	readonly sha256: string;
	/**
	 * How it was chosen: `recorded` (the message and sha256 the index holds for this archive), `only` (the thread's one
	 * manifest) or `earliest` (the first posted of several, when the index records none).
	 */
	readonly chosenBy: 'recorded' | 'only' | 'earliest';
	/** The thread's other manifest attachments, which were not read: each is someone's later post, or a copy. */
	readonly others: readonly { readonly file: string; readonly messageId: string }[];
}

/**
 * Fetches and validates the manifest of a legacy archive from its thread (an attachment whose name ends in `.json` and
 * contains `manifest`, as the original tool looked for it). The original format authenticates each chunk but not the
 * manifest, so which manifest is read decides what is restored: when the index records one for this archive (its
 * message id and sha256, stored when the archive was first seen), that one and only that one is read, and any change
 * is refused; otherwise the earliest posted one is read (a later post is an addition). Every other manifest attachment
 * is named in `others`. Its announced size is checked against {@link LEGACY_MAX_MANIFEST_BYTES} before a byte is read.
 *
 * @throws {CoreError} MISSING_CHUNK when the thread holds none, or not the recorded one; TAMPERED_CHUNK when the
 * recorded one changed; BAD_FORMAT when it is too large, or for a manifest that cannot be trusted;
 * UNSUPPORTED_VERSION / UNSAFE_PATH.
 */
export async function fetchLegacyManifest(
	ctx: ArchiveContext,
	archive: Pick<ThreadRef, 'id' | 'threadId' | 'lot' | 'uid'>,
	listed: readonly ThreadAttachment[],
	signal?: AbortSignal,
	chunkDir?: string
): Promise<FetchedLegacyManifest> {
	const candidates = listed
		.filter(({ attachment }) => isLegacyManifestName(attachment.filename))
		.sort((a, b) => compareSnowflakes(a.messageId, b.messageId));
	const describe = (items: readonly ThreadAttachment[]) =>
		items
			.slice(0, 10)
			.map((entry) => `${entry.attachment.filename} (message ${entry.messageId})`)
			.join(', ') + (items.length > 10 ? ` and ${items.length - 10} more` : '');
	if (candidates.length === 0) {
		throw new CoreError(
			CoreErrorCode.MissingChunk,
			`The thread of legacy archive ${archive.id} holds no manifest (a file like 11-manifest_021328_241126.json): its upload did not finish.`
		);
	}
	const recorded = recordedLegacyManifest(ctx, archive);
	let item: ThreadAttachment | undefined;
	if (recorded !== undefined) {
		item = candidates.find(
			(entry) => entry.messageId === recorded.messageId && (recorded.attachmentId === null || entry.attachment.id === recorded.attachmentId)
		);
		if (item === undefined) {
			throw new CoreError(
				CoreErrorCode.MissingChunk,
				`The manifest recorded for legacy archive ${archive.id} (${recorded.filename ?? 'a JSON file'}, message ${recorded.messageId}) is no longer in its thread, which holds ${describe(candidates)} instead. The original format does not authenticate its file list, so another manifest is not used in its place. Restore the index from a backup, or check the thread on Discord.`,
				{ file: recorded.filename ?? undefined }
			);
		}
	} else {
		item = candidates[0]!;
	}
	const others = candidates.filter((entry) => entry !== item);
	assertSafeName(item.attachment.filename);
	if (item.attachment.size > LEGACY_MAX_MANIFEST_BYTES) {
		throw new CoreError(
			CoreErrorCode.BadFormat,
			`The manifest ${item.attachment.filename} of legacy archive ${archive.id} is ${item.attachment.size} bytes, more than the ${LEGACY_MAX_MANIFEST_BYTES} any manifest of the original tool holds. It is not read.`,
			{ file: item.attachment.filename }
		);
	}
	const bytes = await fetchToMemory(ctx, archive, item, { index: 0, kind: 'manifest', expectedSha256: undefined }, signal);
	const digest = sha256Hex(bytes);
	if (recorded?.sha256 != null && digest !== recorded.sha256) {
		throw new CoreError(
			CoreErrorCode.TamperedChunk,
			`The manifest of legacy archive ${archive.id} (${item.attachment.filename}, message ${item.messageId}) is not the one recorded when the archive was indexed (sha256 ${digest}, not ${recorded.sha256}). Nothing is restored from it.`,
			{ file: item.attachment.filename }
		);
	}
	const manifest = parseLegacyManifest(bytes.toString('utf8'));
	if (chunkDir !== undefined) await writeChunkFile(path.join(chunkDir, item.attachment.filename), bytes);
	return {
		manifest,
		file: item.attachment.filename,
		messageId: item.messageId,
		attachmentId: item.attachment.id,
		size: bytes.length,
		sha256: digest,
		chosenBy: recorded !== undefined ? 'recorded' : others.length === 0 ? 'only' : 'earliest',
		others: others.map((entry) => ({ file: entry.attachment.filename, messageId: entry.messageId }))
	};
}

/**
 * What a person should know about a legacy restore from `fetched`: that the format authenticates each chunk but not
 * the file list, which manifest was read, and the thread's other manifests.
 */
export function legacyManifestNotes(fetched: Pick<FetchedLegacyManifest, 'file' | 'messageId' | 'chosenBy' | 'others'>): string[] {
	const how =
		fetched.chosenBy === 'recorded'
			? 'the one the index recorded when the archive was first seen'
			: fetched.chosenBy === 'only'
				? 'the only one among its messages; the index recorded none'
				: 'the earliest posted; the index recorded none';
	const notes = [
		`Original-tool archive: each chunk is authenticated, but its file list (the manifest) is not. The manifest read was ${fetched.file} (message ${fetched.messageId}), ${how}.`
	];
	if (fetched.others.length > 0) {
		notes.push(
			`The thread also holds ${fetched.others.length} other manifest(s), not used: ${fetched.others
				.slice(0, 10)
				.map((entry) => `${entry.file} (message ${entry.messageId})`)
				.join(
					', '
				)}${fetched.others.length > 10 ? ` and ${fetched.others.length - 10} more` : ''}. They are not the manifest this archive is read by: someone may have posted them to alter it; check the thread.`
		);
	}
	return notes;
}

/** The manifest the index records for a legacy archive (its row must be this archive's), or undefined. */
function recordedLegacyManifest(ctx: ArchiveContext, archive: Pick<ThreadRef, 'lot' | 'uid'>): (ChunkRecord & { messageId: string }) | undefined {
	if (archive.lot === undefined) return undefined;
	const row = ctx.index.archives.get(archive.lot);
	if (row === undefined || row.format === ArchiveFormat.Dos1 || (archive.uid !== undefined && row.uid !== archive.uid)) return undefined;
	const record = ctx.index.chunks.get(archive.lot, { kind: ChunkKind.Manifest, index: 0 });
	if (record?.messageId === null || record?.messageId === undefined) return undefined;
	return record as ChunkRecord & { messageId: string };
}

/** Orders Discord ids (decimal strings of up to 20 digits) by value, so by creation time. */
function compareSnowflakes(a: string, b: string): number {
	return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

async function writeChunkFile(file: string, bytes: Buffer): Promise<void> {
	await writeFile(file, bytes).catch((error: unknown) => {
		throw fromFsError(error, file);
	});
}
