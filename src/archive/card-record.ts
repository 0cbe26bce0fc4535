import { z } from 'zod';
import type { APIEmbed } from '../discord/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, valuesOf } from '../db/index.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';

/**
 * The machine-readable record every archive card carries (DESIGN.md §3.3): only non-secret facts — id, lot, uid,
 * label, status, format, counts, sizes, chunk size, creation time, thread — so that a skeleton index can be rebuilt
 * from the archive channel even without the key. It lives in the card embed's footer as
 * `dos-card/1 {compact JSON}`; the version is in the prefix and in the JSON, and the parser is strict.
 */

/** The footer prefix of a version-1 record. */
export const CARD_RECORD_PREFIX = 'dos-card/1 ';
export const CARD_RECORD_VERSION = 1;
/** Longest label a record (and so an upload) accepts, in characters. */
export const MAX_LABEL_LENGTH = 100;
/** Discord's footer limit. */
const FOOTER_LIMIT = 2048;

/** The record as carried on the card (short keys keep the footer small). */
export interface CardRecord {
	readonly v: typeof CARD_RECORD_VERSION;
	/** `#DDMMYY-NN`. */
	readonly id: string;
	readonly lot: number;
	/** 32 lowercase hex digits. */
	readonly uid: string;
	readonly label: string | null;
	readonly status: ArchiveStatus;
	readonly format: ArchiveFormat;
	/** Files, directories and symlinks. */
	readonly files: number;
	readonly dirs: number;
	readonly links: number;
	/** Data chunks planned, and stored so far. */
	readonly chunks: number;
	readonly stored: number;
	/** Bytes of the files, and bytes on Discord (chunks and manifest parts). */
	readonly bytes: number;
	readonly storedBytes: number;
	readonly chunkSize: number;
	/** ISO 8601. */
	readonly created: string;
	readonly thread: string | null;
}

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const snowflake = z.string().regex(/^\d{17,20}$/);

const recordSchema = z.strictObject({
	v: z.literal(CARD_RECORD_VERSION),
	id: z.string().regex(/^#\d{6}-\d{2,}$/),
	lot: count.min(1),
	uid: z.string().regex(/^[0-9a-f]{32}$/),
	label: z.string().max(MAX_LABEL_LENGTH).nullable(),
	status: z.enum(valuesOf(ArchiveStatus)),
	format: z.enum(valuesOf(ArchiveFormat)),
	files: count,
	dirs: count,
	links: count,
	chunks: count,
	stored: count,
	bytes: count,
	storedBytes: count,
	chunkSize: count.min(1),
	created: z.iso.datetime({ offset: true }),
	thread: snowflake.nullable()
});

/** The record of an archive row (the label is cut to {@link MAX_LABEL_LENGTH} characters). */
export function cardRecordOf(archive: Archive): CardRecord {
	return {
		v: CARD_RECORD_VERSION,
		id: archive.id,
		lot: archive.lot,
		uid: archive.uid,
		label: archive.label === null ? null : archive.label.slice(0, MAX_LABEL_LENGTH),
		status: archive.status,
		format: archive.format,
		files: archive.fileCount,
		dirs: archive.directoryCount,
		links: archive.symlinkCount,
		chunks: archive.chunkCount,
		stored: archive.storedChunkCount,
		bytes: archive.originalBytes,
		storedBytes: archive.storedBytes,
		chunkSize: archive.chunkSize,
		created: archive.createdAt.toISOString(),
		thread: archive.threadId
	};
}

/**
 * The footer text carrying a record.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD when the record is invalid (it would not parse back).
 */
export function encodeCardRecord(record: CardRecord): string {
	const checked = recordSchema.safeParse(record);
	if (!checked.success) throw badRecord(checked.error.issues);
	const text = `${CARD_RECORD_PREFIX}${JSON.stringify(checked.data)}`;
	if (text.length > FOOTER_LIMIT)
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, `A card record of ${text.length} characters exceeds the footer limit.`);
	return text;
}

/**
 * Parses the footer text of a card, strictly: the `dos-card/1 ` prefix, JSON, and every field valid with no extra one.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD naming what is wrong.
 */
export function parseCardRecord(text: string): CardRecord {
	if (!text.startsWith(CARD_RECORD_PREFIX)) {
		const other = /^dos-card\/(\d+) /.exec(text);
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			other
				? `This card carries a record of version ${other[1]}; this build reads version ${CARD_RECORD_VERSION}. Update Discord Object Store.`
				: 'This message carries no archive card record.'
		);
	}
	let value: unknown;
	try {
		value = JSON.parse(text.slice(CARD_RECORD_PREFIX.length));
	} catch (error) {
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			'The card record is not JSON: the card was edited by hand or damaged.',
			{},
			{ cause: error }
		);
	}
	const parsed = recordSchema.safeParse(value);
	if (!parsed.success) throw badRecord(parsed.error.issues);
	if (Number(parsed.data.id.slice(parsed.data.id.indexOf('-') + 1)) !== parsed.data.lot) {
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, `The card record's id ${parsed.data.id} does not name its lot ${parsed.data.lot}.`);
	}
	return parsed.data;
}

/**
 * The record carried by a message's embeds, or null when none carries one (a chat line, a card of the original tool).
 *
 * @throws {ArchiveError} BAD_CARD_RECORD when an embed carries a record that does not parse.
 */
export function findCardRecord(embeds: readonly APIEmbed[]): CardRecord | null {
	for (const embed of embeds) {
		const footer = embed.footer?.text;
		if (footer?.startsWith('dos-card/')) return parseCardRecord(footer);
	}
	return null;
}

function badRecord(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ArchiveError {
	const described = issues.slice(0, 5).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
	return new ArchiveError(ArchiveErrorCode.BadCardRecord, `The card record is malformed (${described.join('; ')}).`);
}
