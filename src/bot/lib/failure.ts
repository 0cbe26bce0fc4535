import { randomBytes } from 'node:crypto';
import { UserError } from '@sapphire/framework';
import { ArchiveError, ArchiveErrorCode, isArchiveError } from '../../archive/errors.js';
import { ConfigError } from '../../config.js';
import { CodeTable, CoreError, CoreErrorCode, isCoreError } from '../../core/index.js';
import { IndexError, IndexErrorCode, isIndexError } from '../../db/index.js';
import { isTransportError, TransportError, TransportErrorCode } from '../../discord/index.js';
import { inBotTerms, isBotError } from './errors.js';

/**
 * Errors as a person reads them in Discord: one short ephemeral sentence with a stable code. The one place
 * that maps codes to words for the bot (the CLI has its own, src/cli/failure.ts). The detail goes to the log.
 */
export interface BotFailure {
	/** Stable code shown to the person (`ARCHIVE_BUSY`, `UNEXPECTED`…). */
	readonly code: string;
	/** What the person reads, at most {@link REPLY_TEXT_MAX} characters. */
	readonly message: string;
	/** Whether this is an expected outcome (a refusal, a busy archive) rather than a fault worth a stack trace. */
	readonly expected: boolean;
	/** For unexpected errors, a short reference printed in the reply and in the log line, to find one from the other. */
	readonly reference: string | undefined;
}

/** Replies stay far below Discord's 2000-character content limit. */
export const REPLY_TEXT_MAX = 1_500;

/**
 * Outcomes of a request rather than faults: the layer's message already says what to do, so it is shown as it is,
 * without a reference. Keyed by class and code: codes repeat across layers (a CoreError NOT_FOUND is a path the
 * person typed; a TransportError NOT_FOUND is a message the index points to that Discord no longer holds, a fault).
 */
const expected = CodeTable.empty()
	.with(CoreError, [
		CoreErrorCode.NoKey,
		CoreErrorCode.WrongKey,
		CoreErrorCode.UnsafePath,
		CoreErrorCode.SourceChanged,
		CoreErrorCode.FileExists,
		CoreErrorCode.NotFound,
		CoreErrorCode.InvalidOption,
		CoreErrorCode.Aborted
	])
	.with(IndexError, [
		IndexErrorCode.ArchiveNotFound,
		IndexErrorCode.AmbiguousArchive,
		IndexErrorCode.ArchiveBusy,
		IndexErrorCode.InvalidArchiveId,
		IndexErrorCode.QueryTooShort,
		IndexErrorCode.IndexBusy
	])
	.with(TransportError, [
		TransportErrorCode.MissingPermissions,
		TransportErrorCode.RateLimited,
		TransportErrorCode.DiscordUnavailable,
		TransportErrorCode.Aborted
	])
	.with(ArchiveError, [
		ArchiveErrorCode.NotResumable,
		ArchiveErrorCode.NotDownloadable,
		ArchiveErrorCode.InvalidRequest,
		ArchiveErrorCode.ServiceClosed,
		ArchiveErrorCode.NoSuchJob
	]);

/** Maps any error to what the person reads. */
export function describeBotFailure(error: unknown): BotFailure {
	const reference = randomBytes(3).toString('hex');
	if (error instanceof UserError) return known(error.identifier, error.message, true);
	if (isBotError(error)) return known(error.code, error.message, true);
	if (error instanceof ConfigError) return known('CONFIG', error.message, false, reference);
	if (isCoreError(error) || isIndexError(error) || isTransportError(error) || isArchiveError(error)) {
		const outcome = expected.has(error);
		return known(error.code, error.message, outcome, outcome ? undefined : reference);
	}
	const fsError = fileSystemError(error);
	if (fsError !== undefined) {
		// Only the person who asked reads this (ephemeral): it names the file, which cards and the log channel never do.
		const where = fsError.path === undefined ? '' : ` for ${fsError.path}`;
		return known(
			fsError.code,
			`The file system refused ${fsError.syscall}${where} (${fsError.code}). Check that it exists and the bot may read it, then resume or start again.`,
			false,
			reference
		);
	}
	return {
		code: 'UNEXPECTED',
		message: `Something went wrong on the bot's side (code UNEXPECTED, ref ${reference}). The bot's log has the detail; try again, and report it if it persists.`,
		expected: false,
		reference
	};
}

/** A Node.js file-system error (`ENOENT`, `EACCES`…: it names a syscall), or undefined. */
function fileSystemError(error: unknown): { code: string; syscall: string; path: string | undefined } | undefined {
	if (!(error instanceof Error)) return undefined;
	const { code, syscall, path } = error as NodeJS.ErrnoException;
	if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code) || typeof syscall !== 'string') return undefined;
	return { code, syscall, path: typeof path === 'string' ? path : undefined };
}

function known(code: string, message: string, expected: boolean, reference?: string): BotFailure {
	const body = oneLine(inBotTerms(message));
	const suffix = reference === undefined ? ` (code ${code})` : ` (code ${code}, ref ${reference})`;
	const limit = REPLY_TEXT_MAX - suffix.length;
	return { code, message: (body.length > limit ? `${body.slice(0, limit - 1)}…` : body) + suffix, expected, reference };
}

function oneLine(text: string): string {
	return text.replace(/\s*\n\s*/g, ' ').trim();
}
