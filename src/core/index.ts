export * from './errors.js';
export * from './paths.js';
export * from './abort.js';
export * from './keys.js';
export * from './container.js';
export * from './compression.js';
export * from './hash.js';
export * from './sealing.js';
export * from './pool.js';
export * from './progress.js';
export * from './archive-id.js';
export * from './pipeline.js';
export { collectBufferGarbage, noteBufferChurn, SERVICE_CHURN_BYTES } from './memory.js';
export * from './names.js';
export * from './walk.js';
export * from './plan.js';
export * from './slice.js';
export * from './manifest.js';
export * from './blob.js';
export * from './selection.js';
export * from './assemble.js';
export * from './verify.js';
export * from './staged.js';
export * from './legacy/index.js';
// Format 2 (the repository engine); the primitives are imported from src/core/repo/ directly.
export { type Codec, DEFAULT_CODEC, parseCodec } from './repo/codec.js';
export { type ManifestV2, type ManifestV2Entry, MANIFEST_V2_VERSION, validateManifestV2 } from './repo/manifest.js';
export {
	type DedupScope,
	type SliceOptions,
	type SliceResult,
	type SliceTarget,
	sliceInto,
	sliceToRepository,
	type SliceToRepositoryOptions,
	type SliceToRepositoryResult
} from './repo/slice.js';
export { MANIFEST_PART_SIZE, MAX_MANIFEST_PARTS as MAX_MANIFEST_V2_PARTS, openManifestV2, sealManifestV2 } from './repo/manifest.js';
export { type PackHeader, readPackHeader, readPackTail } from './repo/pack.js';
export {
	assembleOpenedArchive,
	checkPackBlobs,
	type PackBlobsCheck,
	type OpenedRepositoryArchive,
	verifyOpenedArchive,
	assembleFromRepository,
	type AssembleFromRepositoryOptions,
	type AssembleFromRepositoryResult,
	type BadBlob,
	type BadPack,
	type RepositoryLostFile,
	verifyRepository,
	type VerifyRepositoryResult
} from './repo/restore.js';
export {
	type BlobLocation,
	type ClosedPack,
	createRepository,
	DEFAULT_PACK_SIZE,
	PACKS_DIR,
	type RepositorySubkeys,
	subkeysOf,
	isRepository,
	listArchives,
	listPacks,
	readPackFileTail,
	loadBlobIndex,
	type LocalRepository,
	MAX_PACK_SIZE,
	MIN_PACK_SIZE,
	openRepository,
	readManifest,
	writeManifest
} from './repo/local.js';
