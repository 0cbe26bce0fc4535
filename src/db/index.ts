/**
 * The history index (docs/design.md §2, src/db): SQLite through Drizzle, a cache of what Discord holds.
 * Everything the archive service and the bot need is exported here; the driver stays inside.
 */
export { formatArchiveId, parseArchiveId, type ParsedArchiveId } from '../core/archive-id.js';
export { assertArchiveId } from './archives.js';
export type {
	Archive,
	ArchiveContent,
	ArchiveFailure,
	ArchiveIndex,
	ArchiveKdf,
	ArchiveListOptions,
	ArchivePage,
	ArchivePatch,
	ArchivePlan,
	ArchiveSuggestion,
	ArchiveVerification,
	ImportedArchive,
	NewArchive,
	SuggestOptions
} from './archives.js';
export type { IndexBackup, IndexBackupLog, PostedIndexBackup } from './backups.js';
export type {
	ChunkIndex,
	ChunkKey,
	ChunkListOptions,
	ChunkRecord,
	ChunkStateCounts,
	InFlightChunk,
	SealedChunkFacts,
	StoredChunk
} from './chunks.js';
export type { ArchiveEntryInput, PlannedChunkInput, RecordedChunkInput } from './content.js';
export { archiveEntryInput } from './content.js';
export type { EntryHit, EntryIndex, EntryListOptions, EntryRecord, EntrySearchOptions, EntrySearchPage } from './entries.js';
export { IndexError, IndexErrorCode, isIndexError, type IndexErrorDetails } from './errors.js';
export {
	defaultMigrationsFolder,
	openIndex,
	type HistoryIndex,
	type IndexSnapshot,
	type IndexStatus,
	type OpenIndexOptions,
	type QueryPlan
} from './history-index.js';
export {
	createHolderToken,
	holderIsAlive,
	JobInterruption,
	type Job,
	type JobLease,
	type JobLocks,
	type JobRelease,
	type JobRequest
} from './jobs.js';
export type { JobProgress, JobResult } from './schema.js';
export type { LegacyMessageIndex, LegacyMessageRefs } from './legacy-messages.js';
export type { BlobPlace, InFlightPack, PackBlobInput, PackCleanupPlan, PackIndex, PackRecord, RepositoryTotals, StoredPackInput } from './packs.js';
export type { RepositoryKeysIndex, RepositoryKeysInput, RepositoryKeysRecord } from './repository-keys.js';
export { restoreIndexSnapshot, type RestoredIndex, type RestoreIndexOptions } from './snapshot.js';
export { minimumTermLength } from './search-query.js';
export * from './vocabulary.js';
