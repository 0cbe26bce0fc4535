export * from './codec.js';
export * from './cdc.js';
export * from './primitives.js';
export * from './manifest.js';
export * from './local.js';
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
