/**
 * The archive service (docs/design.md §2, src/archive): the jobs built from core, db and discord, and the facade the bot
 * and the CLI use.
 */
export * from './context.js';
export * from './open.js';
export * from './errors.js';
export * from './card-record.js';
export * from './card.js';
export * from './card-updater.js';
export * from './reconcile.js';
export * from './upload.js';
export { adoptLandedCard } from './upload-card.js';
export { nextGeneration } from './upload-posting.js';
export * from './upload-folders.js';
export * from './resume.js';
export * from './check-repository.js';
export * from './runner.js';
export * from './service.js';
export * from './thread-reader.js';
export * from './thread-manifest.js';
export * from './download-folders.js';
export * from './lot-range.js';
export * from './download.js';
export * from './verify.js';
export * from './cleanup.js';
export { describeRepositoryCleanup, type RepositoryCleanupSummary } from './cleanup-repository.js';
export * from './rebuild.js';
export * from './index-backup.js';
export * from './legacy-card.js';
