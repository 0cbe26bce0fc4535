export * from './codec.js';
export * from './cdc.js';
export * from './keys.js';
export * from './blob.js';
export * from './pack.js';
export * from './manifest.js';
export {
	assembleFromRepository,
	type AssembleFromRepositoryOptions,
	type AssembleFromRepositoryResult,
	type DedupScope,
	sliceToRepository,
	type SliceToRepositoryOptions,
	type SliceToRepositoryResult,
	verifyRepository,
	type VerifyRepositoryResult
} from './engine.js';
export {
	createRepository,
	isRepository,
	listArchives,
	listPacks,
	loadBlobIndex,
	type LocalRepository,
	openRepository,
	readManifest,
	writeManifest
} from './local.js';
