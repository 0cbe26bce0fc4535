import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { findCardRecord } from '../../archive/card-record.js';
import type { CardRecord } from '../../archive/card-record.js';
import type { APIEmbed } from '../../discord/index.js';
import { ControlClient as EmulatorControlClient } from '../../emulator/control-client.js';
import type { ControlMessage } from '../../emulator/index.js';
import type { CliInvocation } from '../invocation.js';
import { describeFailure, ExitCode } from '../failure.js';
import { plural } from '../report.js';
import { formatBytes } from '../../archive/format.js';
import { startSandbox } from './sandbox.js';

/**
 * The emulator's control client, reading this application's archive cards too. The demo drives the bot only
 * through it, as the end-to-end tests do.
 */
export class CardControlClient extends EmulatorControlClient {
	/** The card of an archive in the archive channel (by id `#DDMMYY-NN` or uid), with its record; null when absent. */
	public async card(archiveChannelId: string, archive: string): Promise<{ message: ControlMessage; record: CardRecord } | null> {
		const found = await this.findMessage(archiveChannelId, (message) => ofArchive(message, archive));
		return found && { message: found.message, record: found.value };
	}

	/** Polls the card until `done` holds. @throws Error after `timeoutMs`, with the card's last state. */
	public async waitForCard(
		archiveChannelId: string,
		archive: string,
		done: (record: CardRecord, message: ControlMessage) => boolean,
		timeoutMs = 60_000
	): Promise<{ message: ControlMessage; record: CardRecord }> {
		const found = await this.waitForMessage(
			archiveChannelId,
			(message) => ofArchive(message, archive),
			done,
			(last) => `The card of ${archive} did not reach the expected state: ${last ? cardText(last.message) : 'no card'}`,
			timeoutMs
		);
		return { message: found.message, record: found.value };
	}
}

function ofArchive(message: ControlMessage, archive: string): CardRecord | null {
	const record = recordOf(message);
	return record && (record.id === archive || record.uid === archive) ? record : null;
}

/** The card record a message carries, or null. */
export function recordOf(message: ControlMessage): CardRecord | null {
	try {
		return findCardRecord(message.embeds as APIEmbed[]);
	} catch {
		return null;
	}
}

/** A message as a person sees it in Discord, in plain text: content, embeds (title, description, fields), buttons. */
export function cardText(message: ControlMessage): string {
	const lines: string[] = [];
	if (message.content !== '') lines.push(message.content);
	for (const embed of message.embeds as APIEmbed[]) {
		if (embed.title) lines.push(`┃ ${embed.title}`);
		if (embed.description) lines.push(...embed.description.split('\n').map((line) => `┃ ${line}`));
		for (const field of embed.fields ?? []) lines.push(`┃ ${field.name}: ${field.value.replace(/\n/g, ' · ')}`);
		if (embed.footer?.text && !embed.footer.text.startsWith('dos-card/')) lines.push(`┃ ${embed.footer.text}`);
	}
	const buttons: string[] = [];
	const collect = (components: unknown): void => {
		if (!Array.isArray(components)) return;
		for (const component of components as { type?: number; label?: string; disabled?: boolean; components?: unknown }[]) {
			if (component.type === 2 && component.label) buttons.push(`[${component.label}${component.disabled ? ' (disabled)' : ''}]`);
			collect(component.components);
		}
	};
	collect(message.components);
	if (buttons.length > 0) lines.push(buttons.join(' '));
	return lines.map(readable).join('\n');
}

/** Discord's markup as the client shows it: `<t:…:R>` as a relative time, `<t:…:d>` as a date, mentions as @user. */
function readable(line: string): string {
	return line
		.replace(/<t:(\d+):R>/g, (_, seconds: string) => relativeTime(Number(seconds) * 1000))
		.replace(/<t:(\d+)(?::[a-zA-Z])?>/g, (_, seconds: string) => new Date(Number(seconds) * 1000).toISOString().slice(0, 10))
		.replace(/<@!?(\d+)>/g, '@user')
		.replace(/<#(\d+)>/g, '#channel');
}

function relativeTime(at: number): string {
	const seconds = Math.round((Date.now() - at) / 1000);
	if (Math.abs(seconds) < 60) return 'just now';
	const minutes = Math.round(seconds / 60);
	if (Math.abs(minutes) < 60) return minutes > 0 ? `${minutes} min ago` : `in ${-minutes} min`;
	const hours = Math.round(minutes / 60);
	return hours > 0 ? `${hours} h ago` : `in ${-hours} h`;
}

/** A folder as a map of relative path → sha256 (files), `dir` (folders) or `link:<target>`, to compare trees. */
export async function treeDigest(root: string): Promise<Map<string, string>> {
	const digest = new Map<string, string>();
	const walk = async (relative: string): Promise<void> => {
		for (const entry of await readdir(path.join(root, relative), { withFileTypes: true })) {
			const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
			if (entry.isDirectory()) {
				digest.set(child, 'dir');
				await walk(child);
			} else if (entry.isFile()) {
				digest.set(
					child,
					createHash('sha256')
						.update(await readFile(path.join(root, child)))
						.digest('hex')
				);
			} else if (entry.isSymbolicLink()) {
				digest.set(child, `link:${await readlink(path.join(root, child))}`);
			} else {
				digest.set(child, 'other');
			}
		}
	};
	await walk('');
	return digest;
}

/** Whether two digests are equal; otherwise the first few differences, for a person to read. */
export function treeDifferences(expected: Map<string, string>, actual: Map<string, string>): string[] {
	const differences: string[] = [];
	for (const [name, hash] of expected) {
		const other = actual.get(name);
		if (other === undefined) differences.push(`missing: ${name}`);
		else if (other !== hash) differences.push(`different: ${name}`);
	}
	for (const name of actual.keys()) if (!expected.has(name)) differences.push(`unexpected: ${name}`);
	return differences;
}

/** Deterministic bytes that do not compress (xorshift32), like photos. */
function noise(size: number, seed: number): Buffer {
	const bytes = Buffer.alloc(Math.ceil(size / 4) * 4);
	let state = seed >>> 0 || 1;
	for (let index = 0; index < bytes.length; index += 4) {
		state ^= state << 13;
		state >>>= 0;
		state ^= state >>> 17;
		state ^= state << 5;
		state >>>= 0;
		bytes.writeUInt32LE(state, index);
	}
	return bytes.subarray(0, size);
}

/** The sample folder of the demo: nested folders, an empty one, a non-ASCII name, photos-like noise and compressible text. */
export async function makeSampleFolder(folder: string): Promise<{ files: number; bytes: number }> {
	const files: [string, Buffer][] = [
		['README.txt', Buffer.from('A sample folder made by `npm run demo`.\nEvery byte of it comes back from the archive.\n')],
		['photos/2024/beach.raw', noise(640 * 1024, 7)],
		['photos/2024/city.raw', noise(384 * 1024 + 123, 11)],
		['notes/ünïcode – notes.md', Buffer.from('# Notes\n\nNames keep their accents and dashes.\n')],
		['logs/server.log', Buffer.from('GET /index.html 200 1024\n'.repeat(8_000))]
	];
	await mkdir(path.join(folder, 'empty'), { recursive: true });
	let bytes = 0;
	for (const [name, data] of files) {
		await mkdir(path.dirname(path.join(folder, name)), { recursive: true });
		await writeFile(path.join(folder, name), data);
		bytes += data.length;
	}
	return { files: files.length, bytes };
}

interface DemoOptions {
	keep?: boolean;
}

/**
 * `dos demo` (`npm run demo`): starts the sandbox in a temporary folder, makes a sample folder, and drives
 * `/archive upload` → the card's progress → `/archive verify` → `/archive download` through the emulator's control
 * API, as a person clicking in Discord would, printing each step and the final card. Exit code 0 only when the
 * restored files are identical to the sample.
 */
export async function runDemo(context: CliInvocation, options: DemoOptions): Promise<ExitCode> {
	const { io } = context;
	const say = (line = '') => io.stdout.write(`${line}\n`);
	const dataDir = await mkdtemp(path.join(tmpdir(), 'dos-demo-'));
	const logFile = path.join(dataDir, 'bot.log');
	const logLines: string[] = [];
	let ok = false;
	say('Discord Object Store — demo. Everything runs on this machine against a local emulated Discord; no token, no network.');
	say();
	say('1. Starting the sandbox (the emulator and the bot in this process)…');
	const started = Date.now();
	const sandbox = await startSandbox({
		dataDir,
		env: {
			...io.env,
			DOS_CHUNK_SIZE: io.env.DOS_CHUNK_SIZE ?? String(128 * 1024),
			USER_KEY: io.env.USER_KEY ?? 'demo passphrase: use your own USER_KEY for real archives'
		},
		writeLog: (line) => logLines.push(line),
		notice: (text) => io.stderr.write(text)
	});
	try {
		const { ready } = sandbox;
		const control = new CardControlClient(ready.control);
		say(`   ready in ${((Date.now() - started) / 1000).toFixed(1)} s — control API ${ready.control}`);
		say();
		const sample = path.join(ready.uploadRoot, 'demo-folder');
		const made = await makeSampleFolder(sample);
		say(
			`2. Made a sample folder under the upload root: demo-folder/ — ${plural(made.files, 'file')} in nested folders, ${(made.bytes / 1024 / 1024).toFixed(2)} MiB`
		);
		say();

		say('3. You type: /archive upload source:demo-folder label:Demo folder');
		const upload = await control.run({
			kind: 'command',
			command: 'archive',
			subcommand: 'upload',
			options: { source: 'demo-folder', label: 'Demo folder' }
		});
		say(`   The bot answers (only you see it): ${upload.reply?.content ?? '(nothing)'}`);
		const archiveId = /\*\*(#\d{6}-\d{2,})\*\*/.exec(upload.reply?.content ?? '')?.[1];
		if (archiveId === undefined) throw new Error('The bot did not name the new archive.');
		let lastProgress = '';
		const uploaded = await control.waitForCard(
			ready.archiveChannelId,
			archiveId,
			(record, message) => {
				const progress = progressOf(message);
				if (progress !== null && progress !== lastProgress) {
					lastProgress = progress;
					say(`   card: ${progress}`);
				}
				return record.status !== 'uploading' && record.status !== 'planned';
			},
			300_000
		);
		const { record } = uploaded;
		say(
			record.format === 'dos-2'
				? `   card: ${record.status} — ${plural(record.files, 'file')}, ${formatBytes(record.bytes)} stored as ${formatBytes(record.storedBytes)} (format 2: compressed, encrypted packs)`
				: `   card: ${record.status} — ${record.stored}/${record.chunks} chunks stored`
		);
		if (uploaded.record.status !== 'complete') throw new Error(`The upload ended ${uploaded.record.status}.`);
		say();

		say(`4. You type: /archive verify id:${archiveId} level:full`);
		const verify = await control.run(
			{ kind: 'command', command: 'archive', subcommand: 'verify', options: { id: archiveId, level: 'full' } },
			{ timeoutMs: 300_000, done: (view) => /^(✅|❌|⚠️)/u.test(view.reply?.content ?? '') }
		);
		say(`   The bot answers: ${verify.reply?.content ?? '(nothing)'}`);
		say();

		say(`5. You type: /archive download id:${archiveId}`);
		const download = await control.run(
			{ kind: 'command', command: 'archive', subcommand: 'download', options: { id: archiveId } },
			{ timeoutMs: 300_000, done: (view) => /^(✅|❌)/u.test(view.reply?.content ?? '') }
		);
		say(`   The bot answers: ${download.reply?.content ?? '(nothing)'}`);
		say();

		say('6. Comparing the restored files with the sample, byte for byte…');
		const expected = await treeDigest(sample);
		const restored = await findRestored(ready.downloadRoot, expected);
		if (restored.folder === null) {
			say(`   ✗ The restore differs from the sample: ${restored.differences.slice(0, 5).join('; ') || 'no restored folder found'}`);
		} else {
			ok = true;
			say(`   ✓ identical: ${expected.size} entries in ${path.relative(ready.downloadRoot, restored.folder)}/`);
		}
		say();
		const card = await control.card(ready.archiveChannelId, archiveId);
		say('The card in the archive channel, as everyone in the channel sees it:');
		say(card === null ? '(no card)' : cardText(card.message));
		say();
	} catch (error) {
		say(`✗ The demo stopped: ${describeFailure(error).message}`);
	} finally {
		await sandbox.close();
		await writeFile(logFile, logLines.join(''));
		if (ok && options.keep !== true) await rm(dataDir, { recursive: true, force: true });
		else say(`The sandbox folder is kept for a look: ${dataDir} (the bot's log is bot.log there).`);
	}
	say(ok ? 'Demo passed: the archive went to (emulated) Discord encrypted and came back identical.' : 'Demo FAILED.');
	return ok ? ExitCode.Ok : ExitCode.Failed;
}

/** The card's progress line, or its status title when it shows none. */
function progressOf(message: ControlMessage): string | null {
	const embed = (message.embeds as APIEmbed[])[0];
	if (!embed) return null;
	const progress = embed.fields?.find((field) => field.name === 'Progress')?.value;
	return progress === undefined ? (embed.title ?? null) : `${embed.title ?? ''} · ${progress}`;
}

/** The folder under the download root whose tree equals the sample's (searched two levels deep). */
async function findRestored(downloadRoot: string, expected: Map<string, string>): Promise<{ folder: string | null; differences: string[] }> {
	let closest: string[] = [];
	const candidates: string[] = [];
	for (const entry of await readdir(downloadRoot, { withFileTypes: true })) {
		if (!entry.isDirectory()) continue;
		const folder = path.join(downloadRoot, entry.name);
		candidates.push(folder);
		for (const inner of await readdir(folder, { withFileTypes: true })) if (inner.isDirectory()) candidates.push(path.join(folder, inner.name));
	}
	for (const folder of candidates) {
		const differences = treeDifferences(expected, await treeDigest(folder));
		if (differences.length === 0) return { folder, differences };
		if (closest.length === 0 || differences.length < closest.length) closest = differences;
	}
	return { folder: null, differences: closest };
}

/** `dos demo [--keep]`: the README's first command (`npm run demo`). */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('demo')
		.description('Upload, verify and download a sample folder through the bot and a local emulated Discord; no token, offline.')
		.option('--keep', 'keep the sandbox folder afterwards, even when the demo passes')
		.action(async (options: DemoOptions) => {
			context.exitCode = await runDemo(context, options);
		});
}
