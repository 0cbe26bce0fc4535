/**
 * Read support for archives of the original Python tool (docs/design.md §3.4): manifests v3.1 (per-chunk
 * encryption), v3.0 (whole-file encryption) and v2.x (plain), restore and verify of a downloaded
 * `[Archive] #DDMMYY-NN` folder, and the pieces a downloader needs (chunk names, single-chunk opening).
 */
export { type LegacyArchiveId, legacyArchiveFolderName, parseLegacyArchiveId } from '../archive-id.js';
export {
	type LegacyChunkName,
	assertLegacyChunkBytes,
	formatLegacyChunkName,
	isLegacyChunkName,
	legacyChunkHash,
	legacyFileId,
	parseLegacyChunkName
} from './chunk-name.js';
export {
	LEGACY_MAX_CHUNK_BYTES,
	LEGACY_NONCE_BYTES,
	LEGACY_PBKDF2_ITERATIONS,
	LEGACY_SALT_BYTES,
	LEGACY_SEAL_OVERHEAD,
	LEGACY_SLICE_SIZE,
	LEGACY_TAG_BYTES,
	type OpenLegacyChunkOptions,
	decryptLegacyBlob,
	deriveLegacyKey,
	gunzipLegacyPayload,
	openLegacyChunk
} from './chunk.js';
export {
	LEGACY_MAX_MANIFEST_BYTES,
	type LegacyChunkEntry,
	type LegacyEncryptionScope,
	type LegacyFileEntry,
	type LegacyFormat,
	type LegacyManifest,
	type LegacyManifestFile,
	type ReadLegacyManifestOptions,
	isLegacyArchiveFolder,
	isLegacyManifestName,
	listLegacyManifestFiles,
	parseLegacyManifest,
	readLegacyManifest,
	readLegacyManifestFile
} from './manifest.js';
export type { LegacyProgress, LegacyReadOptions } from './reader.js';
export { type LegacyRestoreResult, type LegacyRestoredFile, type RestoreLegacyOptions, restoreLegacyFolder } from './restore.js';
export {
	type LegacyVerifiedFile,
	type LegacyVerifyProblem,
	type LegacyVerifyReport,
	type VerifyLegacyOptions,
	verifyLegacyFolder
} from './verify.js';
export {
	type LegacySourceFile,
	type LegacyWrittenArchive,
	type LegacyWrittenFile,
	type WriteLegacyArchiveOptions,
	sealLegacyChunk,
	writeLegacyArchive
} from './writer.js';
