import { z } from 'zod';
import { parseRecordedArchiveId } from '../core/index.js';
import type { APIEmbed } from '../discord/index.js';
import { type Archive, ArchiveFormat, ArchiveStatus, valuesOf } from '../db/index.js';
import { ArchiveError, ArchiveErrorCode } from './errors.js';

/**
 * The machine-readable record every archive card carries (docs/design.md §3.3): only non-secret facts — id, lot, uid,
 * label, status, format, counts, sizes, chunk size, creation time, thread — so that a skeleton index can be rebuilt
 * from the archive channel even without the key.
 *
 * Where it lives: in the fragment of the card embed's title link, `https://dos.invalid/dos-card/1#{base64url JSON}`,
 * out of the way of a person reading the card (the footer stays human: `Lot 7 · format 1`). An embed `url` is an
 * http(s) URI of at most 2048 characters (Discord's OpenAPI `RichEmbed.url`), is not counted in the embed's
 * 6000-character total, and is sent again with every edit of the card, so it survives the card's updates. The host is
 * under the reserved `.invalid` TLD (RFC 2606): a click on the title resolves nowhere, and a fragment is never sent to
 * a server anyway. base64url keeps the record to characters Discord passes through unchanged.
 *
 * Cards posted before the record moved carry it in the footer as `dos-card/1 {compact JSON}`: those are read too,
 * forever. The version is in the URL path (or the footer prefix) and in the JSON, and the parser is strict.
 */

/** The footer prefix of a version-1 record on older cards. */
export const CARD_RECORD_PREFIX = 'dos-card/1 ';
export const CARD_RECORD_VERSION = 1;
/** What every record URL starts with; the version and the fragment follow. */
export const CARD_RECORD_URL_BASE = 'https://dos.invalid/dos-card/';
/** Longest label a record (and so an upload) accepts, in characters. */
export const MAX_LABEL_LENGTH = 100;
/** Discord's footer limit, and its limit on an embed `url`. */
const FOOTER_LIMIT = 2048;
const URL_LIMIT = 2048;

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
	id: z.string().refine((id) => parseRecordedArchiveId(id)?.id === id),
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
 * The footer text carrying a record, as cards carried it before the record moved to the title link. Kept so that
 * older cards can be produced in tests and by tools that compare them.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD when the record is invalid (it would not parse back).
 */
export function encodeCardRecord(record: CardRecord): string {
	const text = `${CARD_RECORD_PREFIX}${JSON.stringify(checkedRecord(record))}`;
	if (text.length > FOOTER_LIMIT)
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, `A card record of ${text.length} characters exceeds the footer limit.`);
	return text;
}

/**
 * The embed `url` carrying a record: `https://dos.invalid/dos-card/1#{base64url of the compact JSON}`.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD when the record is invalid (it would not parse back) or too long for a URL.
 */
export function encodeCardRecordUrl(record: CardRecord): string {
	const url = `${CARD_RECORD_URL_BASE}${CARD_RECORD_VERSION}#${Buffer.from(JSON.stringify(checkedRecord(record)), 'utf8').toString('base64url')}`;
	if (url.length > URL_LIMIT)
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, `A card record URL of ${url.length} characters exceeds Discord's ${URL_LIMIT}.`);
	return url;
}

/**
 * Parses a card's record URL strictly: the base, version 1, a base64url fragment of UTF-8 JSON, and every field valid
 * with no extra one.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD naming what is wrong.
 */
export function parseCardRecordUrl(url: string): CardRecord {
	const match = /^https:\/\/dos\.invalid\/dos-card\/(\d+)#([A-Za-z0-9_-]*)$/.exec(url);
	if (match === null) {
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			url.startsWith(CARD_RECORD_URL_BASE)
				? 'The card record link is malformed: the card was edited by hand or damaged.'
				: 'This message carries no archive card record.'
		);
	}
	if (Number(match[1]) !== CARD_RECORD_VERSION) throw otherVersion(match[1]!);
	let json: string;
	try {
		json = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(match[2]!, 'base64url'));
	} catch (error) {
		throw new ArchiveError(
			ArchiveErrorCode.BadCardRecord,
			'The card record link does not hold text: the card was damaged.',
			{},
			{ cause: error }
		);
	}
	return parseRecordJson(json);
}

/**
 * Parses the footer text of an older card, strictly: the `dos-card/1 ` prefix, JSON, and every field valid with no
 * extra one.
 *
 * @throws {ArchiveError} BAD_CARD_RECORD naming what is wrong.
 */
export function parseCardRecord(text: string): CardRecord {
	if (!text.startsWith(CARD_RECORD_PREFIX)) {
		const other = /^dos-card\/(\d+) /.exec(text);
		if (other) throw otherVersion(other[1]!);
		throw new ArchiveError(ArchiveErrorCode.BadCardRecord, 'This message carries no archive card record.');
	}
	return parseRecordJson(text.slice(CARD_RECORD_PREFIX.length));
}

function parseRecordJson(json: string): CardRecord {
	let value: unknown;
	try {
		value = JSON.parse(json);
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

/** Whether an embed claims to carry a record of ours (in its title link, or in the footer of an older card). */
export function carriesCardRecord(embed: APIEmbed): boolean {
	return embed.url?.startsWith(CARD_RECORD_URL_BASE) === true || embed.footer?.text.startsWith('dos-card/') === true;
}

/**
 * The record carried by a message's embeds — in the title link, or in the footer of a card posted before the record
 * moved — or null when none carries one (a chat line, a card of the original tool).
 *
 * @throws {ArchiveError} BAD_CARD_RECORD when an embed carries a record that does not parse.
 */
export function findCardRecord(embeds: readonly APIEmbed[]): CardRecord | null {
	for (const embed of embeds) {
		if (embed.url?.startsWith(CARD_RECORD_URL_BASE) === true) return parseCardRecordUrl(embed.url);
		const footer = embed.footer?.text;
		if (footer?.startsWith('dos-card/')) return parseCardRecord(footer);
	}
	return null;
}

function checkedRecord(record: CardRecord): CardRecord {
	const checked = recordSchema.safeParse(record);
	if (!checked.success) throw badRecord(checked.error.issues);
	return checked.data;
}

function otherVersion(version: string): ArchiveError {
	return new ArchiveError(
		ArchiveErrorCode.BadCardRecord,
		`This card carries a record of version ${version}; this build reads version ${CARD_RECORD_VERSION}. Update Discord Object Store.`
	);
}

function badRecord(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ArchiveError {
	const described = issues.slice(0, 5).map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
	return new ArchiveError(ArchiveErrorCode.BadCardRecord, `The card record is malformed (${described.join('; ')}).`);
}
