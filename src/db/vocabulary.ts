/**
 * The closed vocabularies of the history index, as `as const` objects so every layer (the archive service,
 * the bot's cards and autocomplete, the CLI) shares one list instead of repeating string literals.
 * The schema turns each list into a CHECK constraint, so a value outside it never reaches the file.
 */

/** Where an archive stands. `deleted` keeps the row (and its file list) after its thread was deleted. */
export const ArchiveStatus = {
	Planned: 'planned',
	Uploading: 'uploading',
	Complete: 'complete',
	Failed: 'failed',
	Interrupted: 'interrupted',
	Cancelled: 'cancelled',
	Deleted: 'deleted'
} as const;
export type ArchiveStatus = (typeof ArchiveStatus)[keyof typeof ArchiveStatus];

/**
 * How an archive's data was written: ours (format 1: chunks; format 2: blobs in packs of the channel's repository) or
 * one of the original Python tool's layouts.
 */
export const ArchiveFormat = {
	Dos1: 'dos-1',
	Dos2: 'dos-2',
	LegacyV31: 'legacy-v3.1',
	LegacyV30: 'legacy-v3.0',
	LegacyV2: 'legacy-v2'
} as const;
export type ArchiveFormat = (typeof ArchiveFormat)[keyof typeof ArchiveFormat];

/** What a stored chunk holds: a slice of the archive's byte stream, or a part of its sealed manifest. */
export const ChunkKind = {
	Data: 'data',
	Manifest: 'manifest'
} as const;
export type ChunkKind = (typeof ChunkKind)[keyof typeof ChunkKind];

/**
 * Where a chunk stands on Discord. `in_flight` is written with the post's nonce before the post, so a crash
 * between the post and its record can be reconciled against the thread instead of posting twice.
 */
export const ChunkState = {
	Pending: 'pending',
	InFlight: 'in_flight',
	Stored: 'stored',
	Bad: 'bad',
	Missing: 'missing'
} as const;
export type ChunkState = (typeof ChunkState)[keyof typeof ChunkState];

/**
 * Where a format 2 pack stands on Discord: `in_flight` is written (name, size, sha256, nonce) before its post, `stored`
 * (message and attachment) after; `deleting` once a cleanup found no live archive needs it, before its message is
 * deleted (its row leaves the index after), so that its blobs are never offered for reuse while it is going.
 */
export const PackState = {
	InFlight: 'in_flight',
	Stored: 'stored',
	Deleting: 'deleting'
} as const;
export type PackState = (typeof PackState)[keyof typeof PackState];

/** The kinds of entry an archive records. */
export const EntryType = {
	File: 'file',
	Directory: 'directory',
	Symlink: 'symlink'
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** The jobs of the archive service. `rebuild` and `index-backup` may run without an archive. */
export const JobKind = {
	Upload: 'upload',
	Resume: 'resume',
	Download: 'download',
	Verify: 'verify',
	Cleanup: 'cleanup',
	Rebuild: 'rebuild',
	IndexBackup: 'index-backup'
} as const;
export type JobKind = (typeof JobKind)[keyof typeof JobKind];

/** Where a job stands. Only `running` holds the archive's lock. */
export const JobStatus = {
	Queued: 'queued',
	Running: 'running',
	Done: 'done',
	Failed: 'failed',
	Interrupted: 'interrupted',
	Cancelled: 'cancelled'
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** The final statuses a job can be released with. */
export type JobOutcome = Exclude<JobStatus, 'queued' | 'running'>;

/** How deep a verification went (docs/design.md §4, Verify). */
export const VerificationLevel = {
	Quick: 'quick',
	Full: 'full'
} as const;
export type VerificationLevel = (typeof VerificationLevel)[keyof typeof VerificationLevel];

/** The values of a vocabulary as a non-empty tuple (what Drizzle's `enum` option and CHECK constraints need). */
export function valuesOf<T extends Record<string, string>>(vocabulary: T): [T[keyof T], ...T[keyof T][]] {
	return Object.values(vocabulary) as [T[keyof T], ...T[keyof T][]];
}
