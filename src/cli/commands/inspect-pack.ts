import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PACK_MAGIC, PACK_TRAILER_SIZE, packName, readPackHeader, readPackTrailer } from '../../core/repo/pack.js';
import { unlockKeys } from '../../core/repo/keys.js';
import type { CommandRun } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { REPOSITORY_KEYS_FILE } from './key.js';

/** Whether these bytes end in a format 2 pack trailer. */
export function looksLikePack(bytes: Uint8Array): boolean {
	return (
		bytes.length >= PACK_TRAILER_SIZE &&
		Buffer.from(bytes.subarray(bytes.length - PACK_TRAILER_SIZE))
			.subarray(0, PACK_MAGIC.length)
			.equals(PACK_MAGIC)
	);
}

/** The repository folder a pack file lies in: the nearest of its parents (up to 3) that holds a keys file. */
async function findRepository(file: string): Promise<string | undefined> {
	let folder = path.dirname(path.resolve(file));
	for (let depth = 0; depth < 3; depth++) {
		const info = await stat(path.join(folder, REPOSITORY_KEYS_FILE)).catch(() => undefined);
		if (info?.isFile()) return folder;
		folder = path.dirname(folder);
	}
	return undefined;
}

/**
 * `dos inspect <pack>`: the trailer, and with USER_KEY (and the pack inside its repository folder) the authenticated
 * header: every blob's id, offset, lengths and codec.
 */
export async function inspectPack(run: CommandRun, file: string, bytes: Buffer, showAll: boolean): Promise<ExitCode> {
	const { headerLength } = readPackTrailer(bytes, bytes.length);
	const name = packName(bytes);
	const summary = {
		file,
		kind: 'pack',
		name,
		nameMatches: path.basename(file).startsWith(name),
		storedSize: bytes.length,
		headerLength,
		blobAreaLength: bytes.length - headerLength - PACK_TRAILER_SIZE
	};
	const lines = [
		`${path.basename(file)}: format 2 pack, ${bytes.length} B (blob area ${summary.blobAreaLength} B, sealed header ${headerLength} B)`,
		`  name ${name}${summary.nameMatches ? '' : ' (the file name differs: renamed or damaged)'}`
	];
	const passphrase = run.config([]).userKey?.reveal();
	const repo = await findRepository(file);
	if (passphrase === undefined || repo === undefined) {
		lines.push(
			passphrase === undefined ? '  (set USER_KEY to read the header)' : '  (no repository keys file above the pack: the header stays sealed)'
		);
		run.reporter.result({ pack: summary }, lines);
		return ExitCode.Ok;
	}
	const keys = await unlockKeys(await readFile(path.join(repo, REPOSITORY_KEYS_FILE)), passphrase, { signal: run.io.signal });
	const header = readPackHeader(keys.blobKeys(), bytes, bytes.length);
	const entries = header.entries.map((entry) => ({
		id: entry.id.toString('hex'),
		offset: entry.offset,
		storedLength: entry.storedLength,
		rawLength: entry.rawLength,
		codec: entry.codec
	}));
	lines.push(
		`  repository ${header.repositoryId.toString('hex')}, pack uid ${header.uid}, ${entries.length} blob${entries.length === 1 ? '' : 's'}`
	);
	const shown = showAll ? entries : entries.slice(0, 50);
	for (const entry of shown)
		lines.push(`  ${entry.id}  @${entry.offset}  ${entry.storedLength} B stored  ${entry.rawLength} B raw  ${entry.codec}`);
	if (shown.length < entries.length) lines.push(`  … and ${entries.length - shown.length} more (--entries lists all)`);
	run.reporter.result({ pack: { ...summary, repositoryId: header.repositoryId.toString('hex'), uid: header.uid, entries } }, lines);
	return ExitCode.Ok;
}
