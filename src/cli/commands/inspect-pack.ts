import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isRepository, openRepository } from '../../core/index.js';
import {
	PACK_ENTRY_SIZE,
	PACK_HEADER_OVERHEAD,
	PACK_MAGIC,
	PACK_NAME_LENGTH,
	PACK_TRAILER_SIZE,
	readPackHeader,
	readPackTrailer
} from '../../core/repo/pack.js';
import { readPackFileTail } from '../../core/repo/local.js';
import type { CommandRun } from '../invocation.js';
import { ExitCode } from '../failure.js';
import { plural } from '../report.js';

/** Whether a file ends in a format 2 pack trailer (its last 16 bytes are read, nothing else). */
export async function looksLikePack(file: string, size: number): Promise<boolean> {
	if (size < PACK_TRAILER_SIZE) return false;
	const handle = await open(file, 'r');
	try {
		const magic = Buffer.alloc(PACK_MAGIC.length);
		const { bytesRead } = await handle.read(magic, 0, magic.length, size - PACK_TRAILER_SIZE);
		return bytesRead === magic.length && magic.equals(PACK_MAGIC);
	} finally {
		await handle.close();
	}
}

/** The repository folder a pack file lies in: the nearest of its parents (up to 3) that holds a keys file. */
async function findRepository(file: string): Promise<string | undefined> {
	let folder = path.dirname(path.resolve(file));
	for (let depth = 0; depth < 3; depth++) {
		if (await isRepository(folder)) return folder;
		folder = path.dirname(folder);
	}
	return undefined;
}

/** SHA-256 of a file, streamed (a pack may be hundreds of MiB). */
async function sha256OfFile(file: string): Promise<string> {
	const hash = createHash('sha256');
	await pipeline(createReadStream(file), hash);
	return hash.digest('hex');
}

/**
 * `dos inspect <pack>`: what can be checked without the key (the trailer and its bounds, the size, the blob count the
 * header length implies, the name against the SHA-256 of the bytes), and with USER_KEY and the pack inside its
 * repository folder, the authenticated header: every blob's id, offset, lengths and codec. Only the pack's tail is
 * read for the header; the name check streams the file.
 *
 * @throws {CoreError} BAD_FORMAT / UNSUPPORTED_VERSION for a damaged trailer; with the key, TAMPERED_CHUNK when the
 * header does not authenticate, MISPLACED_CHUNK for a pack of another repository, WRONG_KEY.
 */
export async function inspectPack(run: CommandRun, file: string, showAll: boolean): Promise<ExitCode> {
	const { size, tail } = await readPackFileTail(file);
	const { headerLength } = readPackTrailer(tail, size);
	const name = (await sha256OfFile(file)).slice(0, PACK_NAME_LENGTH);
	const summary = {
		file,
		kind: 'pack',
		name,
		nameMatches: path.basename(file) === name,
		storedSize: size,
		headerLength,
		blobAreaLength: size - headerLength - PACK_TRAILER_SIZE,
		blobs: (headerLength - PACK_HEADER_OVERHEAD) / PACK_ENTRY_SIZE
	};
	const lines = [
		`${path.basename(file)}: format 2 pack, ${size} B (blob area ${summary.blobAreaLength} B, sealed header ${headerLength} B for ${plural(summary.blobs, 'blob')})`,
		`  trailer sound; name ${name}${summary.nameMatches ? ' (matches the SHA-256 of the bytes)' : ' (the file name differs: renamed or damaged)'}`
	];
	const passphrase = run.config([]).userKey?.reveal();
	const repoDir = await findRepository(file);
	if (passphrase === undefined || repoDir === undefined) {
		lines.push(
			passphrase === undefined
				? '  (set USER_KEY to authenticate the header and list the blobs)'
				: '  (no repository keys file above the pack: the header stays sealed)'
		);
		run.reporter.result({ pack: summary }, lines);
		return ExitCode.Ok;
	}
	const repo = await openRepository(repoDir, passphrase, { signal: run.io.signal });
	const header = readPackHeader(repo.keys, tail, size);
	const entries = header.entries.map((entry) => ({
		id: entry.id.toString('hex'),
		offset: entry.offset,
		storedLength: entry.storedLength,
		rawLength: entry.rawLength,
		codec: entry.codec
	}));
	lines.push(
		`  header authenticates: repository ${header.repositoryId.toString('hex')}, pack uid ${header.uid}, ${plural(entries.length, 'blob')}`
	);
	const shown = showAll ? entries : entries.slice(0, 50);
	for (const entry of shown)
		lines.push(`  ${entry.id}  @${entry.offset}  ${entry.storedLength} B stored  ${entry.rawLength} B raw  ${entry.codec}`);
	if (shown.length < entries.length) lines.push(`  … and ${entries.length - shown.length} more (--entries lists all)`);
	run.reporter.result({ pack: { ...summary, repositoryId: header.repositoryId.toString('hex'), uid: header.uid, entries } }, lines);
	return ExitCode.Ok;
}
