import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { passphraseTooShort, USER_KEY_LENGTH } from '../../config.js';
import { CoreError, CoreErrorCode } from '../../core/errors.js';
import { addSlot, type KeySlot, listSlots, type RepositoryKeys, removeSlot, rotatePassphrase, unlockKeys } from '../../core/repo/keys.js';
import type { ArchiveContext } from '../../archive/context.js';
import { changeChannelPassphrase, channelKeysStatus } from '../../archive/repository-keys.js';
import { type CliInvocation, type CommandRun, runCommand } from '../invocation.js';
import { type CliService, openCliService } from '../service.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';

/** Name of the keys file at the root of a local format 2 repository. */
export const REPOSITORY_KEYS_FILE = 'keys';

interface NewPassphraseOptions extends OutputOptions {
	readonly passphraseFile?: string;
	/** `dos key passwd`'s name for the same option. */
	readonly newPassphraseFile?: string;
}

async function readKeysFile(repo: string): Promise<{ file: string; bytes: Buffer }> {
	const file = path.join(repo, REPOSITORY_KEYS_FILE);
	const bytes = await readFile(file).catch((error: unknown) => {
		throw new CoreError(CoreErrorCode.NotFound, `${repo} has no keys file: it is not a format 2 repository.`, { file }, { cause: error });
	});
	return { file, bytes };
}

/** Replaces the keys file in one step (temp name, then rename), so an interrupted change leaves the old file whole. */
async function writeKeysFile(file: string, bytes: Buffer): Promise<void> {
	const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
	try {
		await writeFile(temp, bytes, { flag: 'wx', mode: 0o600 });
		await rename(temp, file);
	} catch (error) {
		await rm(temp, { force: true });
		throw error;
	}
}

async function unlock(run: CommandRun, repo: string): Promise<{ file: string; keys: RepositoryKeys }> {
	const passphrase = run.config(['userKey']).userKey!.reveal();
	const { file, bytes } = await readKeysFile(repo);
	return { file, keys: await unlockKeys(bytes, passphrase, { signal: run.io.signal }) };
}

/** Reads one line from a non-terminal stdin, or from a terminal without echo. */
async function promptLine(prompt: string, stderr: NodeJS.WritableStream): Promise<string> {
	const stdin = process.stdin;
	stderr.write(prompt);
	return new Promise((resolve, reject) => {
		let line = '';
		const tty = stdin.isTTY;
		if (tty) stdin.setRawMode(true);
		stdin.setEncoding('utf8');
		const done = (error?: Error): void => {
			stdin.off('data', onData);
			stdin.off('end', onEnd);
			if (tty) stdin.setRawMode(false);
			stdin.pause();
			stderr.write('\n');
			if (error) reject(error);
			else resolve(line);
		};
		const onData = (chunk: string): void => {
			for (const char of chunk) {
				if (char === '\n' || char === '\r') {
					done();
					return;
				}
				if (char === '\u0003') {
					done(new CoreError(CoreErrorCode.Aborted, 'Stopped on request.'));
					return;
				}
				if (char === '\u007f' || char === '\b') line = line.slice(0, -1);
				else line += char;
			}
		};
		const onEnd = (): void => {
			done();
		};
		stdin.on('data', onData);
		stdin.on('end', onEnd);
		stdin.resume();
	});
}

/**
 * The new passphrase: the first line of `--passphrase-file`, or asked for (twice on a terminal, without echo). Never an
 * argument: arguments show in the process list and the shell history.
 */
async function newPassphrase(run: CommandRun, options: NewPassphraseOptions): Promise<string> {
	let passphrase: string;
	const file = options.newPassphraseFile ?? options.passphraseFile;
	if (file !== undefined) {
		const text = await readFile(path.resolve(run.io.cwd, file), 'utf8').catch((error: unknown) => {
			throw new CoreError(CoreErrorCode.NotFound, `${file} cannot be read.`, {}, { cause: error });
		});
		passphrase = text.split(/\r?\n/)[0] ?? '';
	} else {
		passphrase = await promptLine('New passphrase: ', run.io.stderr);
		if (process.stdin.isTTY && (await promptLine('Once more: ', run.io.stderr)) !== passphrase) {
			throw new CoreError(CoreErrorCode.InvalidOption, 'The two passphrases differ: nothing was changed.');
		}
	}
	if (passphrase.length === 0)
		throw new CoreError(
			CoreErrorCode.NoKey,
			'The new passphrase is empty: nothing was changed. Type it at the prompt, or give a file whose first line it is with --passphrase-file.'
		);
	// USER_KEY takes a value without the spaces around it (a .env line is trimmed, one of spaces alone is unset) and
	// refuses one this short: either accepted here would lock the repository (or the channel) out.
	if (passphrase.trim() !== passphrase)
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			'The new passphrase begins or ends with a space, which USER_KEY would not keep: nothing was changed. Give it without them.'
		);
	if (passphraseTooShort(passphrase))
		throw new CoreError(
			CoreErrorCode.InvalidOption,
			`The new passphrase is too short (under ${USER_KEY_LENGTH.min} characters, which USER_KEY refuses): nothing was changed. Use at least ${USER_KEY_LENGTH.recommended} characters, e.g. four random words.`
		);
	run.reporter.keepSecret([passphrase]);
	return passphrase;
}

function slotLine(slot: KeySlot, opened: string): string {
	return `  ${slot.id}  created ${slot.created.toISOString()}  PBKDF2-HMAC-SHA256 ${slot.iterations}${slot.id === opened ? '  (opens with USER_KEY)' : ''}`;
}

function slotJson(slot: KeySlot): Record<string, unknown> {
	return { id: slot.id, created: slot.created.toISOString(), kdf: slot.kdf, iterations: slot.iterations };
}

/**
 * The archive channel's keys, with USER_KEY (or, on a terminal without it, a prompt) as the current passphrase: the
 * context of a CLI service on the configured channel, with that passphrase.
 */
async function channelContext(run: CommandRun, prompt: boolean): Promise<{ cli: CliService; context: ArchiveContext }> {
	const cli = await openCliService(run);
	let passphrase = cli.context.settings.passphrase;
	if (passphrase === undefined && prompt && process.stdin.isTTY) {
		passphrase = await promptLine('Current passphrase (USER_KEY): ', run.io.stderr);
		run.reporter.keepSecret([passphrase]);
	}
	return { cli, context: { ...cli.context, settings: { ...cli.context.settings, passphrase } } };
}

/** `dos key list` without a folder: the archive channel's keys, as `/archive status` shows them. */
async function listChannelKeys(run: CommandRun): Promise<ExitCode> {
	const { cli, context } = await channelContext(run, false);
	try {
		const status = await channelKeysStatus(context, run.io.signal);
		const slots = status.state === 'open' || status.state === 'locked' ? status.slots : [];
		const opened = status.state === 'open' ? status.openedSlot : '';
		const head =
			status.state === 'open'
				? `Archive channel keys ${status.repositoryId}: ${slots.length} key slot${slots.length === 1 ? '' : 's'}, ${status.legacyPassphrases} older passphrase${status.legacyPassphrases === 1 ? '' : 's'} kept.`
				: status.state === 'locked'
					? `Archive channel keys${status.repositoryId === '' ? '' : ` ${status.repositoryId}`}: USER_KEY opens none of the ${slots.length} recorded slot${slots.length === 1 ? '' : 's'} (set USER_KEY to the current passphrase).`
					: status.state === 'none'
						? 'The archive channel has no repository keys yet: they are made from USER_KEY on first use.'
						: `The archive channel's keys could not be read: ${status.reason}`;
		run.reporter.result(
			{
				state: status.state,
				repositoryId: 'repositoryId' in status ? status.repositoryId : null,
				opened: opened || null,
				slots: slots.map(slotJson)
			},
			[head, ...slots.map((slot) => slotLine(slot, opened))]
		);
		return status.state === 'unavailable' ? ExitCode.Failed : ExitCode.Ok;
	} finally {
		await cli.close();
	}
}

/** `dos key passwd` without a folder: changes the archive channel's passphrase (see changeChannelPassphrase). */
async function passwdChannelKeys(run: CommandRun, options: NewPassphraseOptions): Promise<ExitCode> {
	const { cli, context } = await channelContext(run, true);
	try {
		const passphrase = await newPassphrase(run, options);
		const { before, after } = await changeChannelPassphrase(context, passphrase, { signal: run.io.signal });
		run.reporter.result(
			{ repositoryId: after.keys.id, removed: before.keys.openedSlot, added: after.keys.openedSlot, messageId: after.messageId },
			[
				`Changed the passphrase of the archive channel's keys: slot ${after.keys.openedSlot} replaces ${before.keys.openedSlot}; the keys message ${after.messageId} is pinned. Nothing was uploaded again.`,
				'Set USER_KEY to the new passphrase where the bot and the CLI run, then restart the bot: until then it refuses new uploads.'
			]
		);
		return ExitCode.Ok;
	} finally {
		await cli.close();
	}
}

/**
 * `dos key list|add|passwd|remove <repo>`: the key slots of a local format 2 repository; `dos key list|passwd` without
 * a folder act on the configured archive channel's keys.
 */
export function register(program: Command, context: CliInvocation): void {
	const key = program.command('key').description('List, add, change or remove the passphrases (key slots) of a format 2 repository.');

	key.command('list')
		.description(
			"List the key slots (of the archive channel's keys without a folder); with USER_KEY the keys are authenticated and the slot it opens is marked."
		)
		.argument('[repo]', 'a local repository folder; without it, the archive channel')
		.option('--json', 'print the result as one JSON line')
		.action(async (repo: string | undefined, options: OutputOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				if (repo === undefined) return listChannelKeys(run);
				const passphrase = run.config([]).userKey?.reveal();
				const { bytes } = await readKeysFile(repo);
				const listed = listSlots(bytes);
				const keys = passphrase === undefined ? undefined : await unlockKeys(bytes, passphrase, { signal: run.io.signal });
				const opened = keys?.openedSlot ?? '';
				run.reporter.result(
					{
						repositoryId: listed.repositoryId,
						authenticated: keys !== undefined,
						opened: keys?.openedSlot ?? null,
						slots: listed.slots.map(slotJson)
					},
					[
						`Repository ${listed.repositoryId}: ${listed.slots.length} key slot${listed.slots.length === 1 ? '' : 's'}${keys ? '' : ' (not authenticated: set USER_KEY to check the file)'}`,
						...listed.slots.map((slot) => slotLine(slot, opened))
					]
				);
				return ExitCode.Ok;
			})
		);

	key.command('add')
		.description('Add a key slot for another passphrase (read from a prompt or --passphrase-file); USER_KEY opens the repository.')
		.argument('<repo>', 'the repository folder')
		.option('--passphrase-file <file>', 'read the new passphrase from the first line of this file')
		.option('--json', 'print the result as one JSON line')
		.action(async (repo: string, options: NewPassphraseOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const { file, keys } = await unlock(run, repo);
				const passphrase = await newPassphrase(run, options);
				const added = await addSlot(keys, passphrase, { signal: run.io.signal });
				await writeKeysFile(file, added.keys.file);
				run.reporter.result({ repositoryId: keys.id, added: slotJson(added.slot), slots: added.keys.slots.length }, [
					`Added key slot ${added.slot.id}; the repository has ${added.keys.slots.length} slots. No data was changed.`
				]);
				return ExitCode.Ok;
			})
		);

	key.command('passwd')
		.description(
			"Change the passphrase of the slot USER_KEY opens (of the archive channel's keys without a folder): a new slot is added, checked, and the old one removed. Nothing is uploaded again."
		)
		.argument('[repo]', 'a local repository folder; without it, the archive channel')
		.option('--new-passphrase-file <file>', 'read the new passphrase from the first line of this file')
		.option('--passphrase-file <file>', 'the same as --new-passphrase-file')
		.option('--json', 'print the result as one JSON line')
		.action(async (repo: string | undefined, options: NewPassphraseOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				if (repo === undefined) return passwdChannelKeys(run, options);
				const { file, keys } = await unlock(run, repo);
				const passphrase = await newPassphrase(run, options);
				// Saved after each step (both slots, then only the new one): a crash never leaves a file no passphrase opens.
				const changed = await rotatePassphrase(
					keys,
					passphrase,
					{ save: (bytes) => writeKeysFile(file, bytes), load: () => readFile(file) },
					{ signal: run.io.signal }
				);
				run.reporter.result({ repositoryId: keys.id, removed: keys.openedSlot, added: changed.openedSlot }, [
					`Changed the passphrase: slot ${changed.openedSlot} replaces ${keys.openedSlot}. Set USER_KEY to the new passphrase. No data was changed.`
				]);
				return ExitCode.Ok;
			})
		);

	key.command('remove')
		.description('Remove a key slot by id (or a unique prefix of 4+ hex digits); the last slot cannot be removed.')
		.argument('<repo>', 'the repository folder')
		.argument('<slot>', 'the slot id, as `dos key list` shows it')
		.option('--json', 'print the result as one JSON line')
		.action(async (repo: string, slot: string, options: OutputOptions) =>
			runCommand(context, options.json ?? false, async (run) => {
				const { file, keys } = await unlock(run, repo);
				const before = new Set(keys.slots.map((entry) => entry.id));
				const removed = removeSlot(keys, slot);
				const gone = [...before].find((id) => !removed.slots.some((entry) => entry.id === id))!;
				await writeKeysFile(file, removed.file);
				run.reporter.result({ repositoryId: keys.id, removed: gone, slots: removed.slots.length }, [
					`Removed key slot ${gone}; ${removed.slots.length} slot${removed.slots.length === 1 ? '' : 's'} left.${gone === keys.openedSlot ? ' USER_KEY no longer opens this repository.' : ''}`
				]);
				return ExitCode.Ok;
			})
		);
}
