import { CommanderError } from 'commander';
import { ConfigError } from '../config.js';
// The error classes from their own modules, which import nothing heavy: every command loads this file.
import { ArchiveError, ArchiveErrorCode, isArchiveError } from '../archive/errors.js';
import { CodeTable, CoreError, CoreErrorCode, isCoreError } from '../core/errors.js';
import { IndexError, IndexErrorCode, isIndexError } from '../db/errors.js';
import { isTransportError, TransportError, TransportErrorCode } from '../discord/transport-error.js';
import { ExitCode } from './exit-code.js';

export { ExitCode } from './exit-code.js';

/** An error as the CLI reports it: a stable code, one line of text, and the exit code. */
export interface Failure {
	readonly code: string;
	readonly message: string;
	readonly exitCode: ExitCode;
}

/**
 * Codes that mean the command was asked wrongly (or cannot run as given) rather than that the work failed. Keyed by
 * class and code: codes repeat across layers, and a TransportError NOT_FOUND is a failed job, not a usage error.
 */
const usageCodes = CodeTable.empty()
	.with(CoreError, [
		CoreErrorCode.NoKey,
		CoreErrorCode.InvalidOption,
		CoreErrorCode.ChunkTooLarge,
		CoreErrorCode.NotFound,
		CoreErrorCode.InvalidArchiveId
	])
	.with(ArchiveError, [ArchiveErrorCode.InvalidRequest, ArchiveErrorCode.NotResumable, ArchiveErrorCode.NotDownloadable])
	.with(IndexError, [
		IndexErrorCode.ArchiveNotFound,
		IndexErrorCode.AmbiguousArchive,
		IndexErrorCode.QueryTooShort,
		IndexErrorCode.InvalidArchiveId
	])
	.with(TransportError, [TransportErrorCode.InvalidToken]);

/** The slash commands of the bot and the `dos` command that does the same: how the CLI names what a message suggests. */
const cliCommands: Readonly<Record<string, string>> = {
	upload: 'dos upload',
	download: 'dos download',
	resume: 'dos resume',
	verify: 'dos verify',
	cleanup: 'dos cleanup',
	status: 'dos status',
	list: 'dos list',
	find: 'dos find',
	rebuild: 'dos index rebuild'
};

/**
 * A message of a lower layer as the CLI's face says it: every `/archive …` slash command is named by its `dos`
 * command (the bot maps the other way, src/bot/lib/errors.ts).
 */
export function inCliTerms(text: string): string {
	return text.replace(
		/\/archive (upload|download|resume|verify|cleanup|status|list|find|rebuild)\b/g,
		(whole, name: string) => cliCommands[name] ?? whole
	);
}

/** Maps any error to what the CLI prints and the exit code; the one place that does so. */
export function describeFailure(error: unknown): Failure {
	if (error instanceof CommanderError)
		return { code: 'USAGE', message: error.message.replace(/^error: /, ''), exitCode: error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage };
	if (error instanceof ConfigError) return { code: 'CONFIG', message: error.message, exitCode: ExitCode.Usage };
	if (isCoreError(error) || isArchiveError(error) || isIndexError(error) || isTransportError(error)) {
		return { code: error.code, message: oneLine(error.message), exitCode: usageCodes.has(error) ? ExitCode.Usage : ExitCode.Failed };
	}
	const fs = fileSystemProblem(error);
	if (fs !== undefined) return fs;
	const message = error instanceof Error ? error.message : String(error);
	return {
		code: 'UNEXPECTED',
		message: `Unexpected error: ${oneLine(message)}. Please report it with the command you ran.`,
		exitCode: ExitCode.Failed
	};
}

/**
 * What a file-system error about a path says, and whether it is the shape of a path that cannot be used as given (a
 * file where a folder must be, something already there: exit 2, as the command asked wrongly) or a refusal or absence
 * met while working (exit 1). Only errors naming a path; anything else is unexpected.
 */
const fileSystemProblems: Readonly<Record<string, { readonly says: string; readonly usage: boolean }>> = {
	ENOTDIR: { says: 'a part of it is a file, not a folder', usage: true },
	EEXIST: { says: 'something is already there', usage: true },
	EISDIR: { says: 'it is a folder, not a file', usage: true },
	ENAMETOOLONG: { says: 'the name is too long', usage: true },
	ENOENT: { says: 'it does not exist', usage: false },
	ELOOP: { says: 'it goes through too many symbolic links', usage: false },
	EACCES: { says: 'permission denied', usage: false },
	EPERM: { says: 'the operation is not permitted', usage: false },
	EROFS: { says: 'the file system is read-only', usage: false }
};

function fileSystemProblem(error: unknown): Failure | undefined {
	const { code, path, dest, syscall } = (error ?? {}) as NodeJS.ErrnoException & { dest?: unknown };
	const problem = code === undefined ? undefined : fileSystemProblems[code];
	if (problem === undefined || typeof path !== 'string') return undefined;
	// Quoted: a path may hold any character, a newline or a terminal escape among them.
	const named = typeof dest === 'string' ? `${JSON.stringify(path)} to ${JSON.stringify(dest)}` : JSON.stringify(path);
	return {
		code: code!,
		message: `Cannot ${syscall ?? 'use'} ${named}: ${problem.says}.${problem.usage ? ' Check the paths given to the command.' : ''}`,
		exitCode: problem.usage ? ExitCode.Usage : ExitCode.Failed
	};
}

function oneLine(text: string): string {
	return inCliTerms(text)
		.replace(/\s*\n\s*/g, ' ')
		.trim();
}
