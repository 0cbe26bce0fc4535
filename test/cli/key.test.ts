import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { sealBlob } from '../../src/core/repo/blob.js';
import { createKeys, listSlots } from '../../src/core/repo/keys.js';
import { PackBuilder } from '../../src/core/repo/pack.js';

interface Run {
	code: number;
	stdout: string;
	stderr: string;
	json: Record<string, unknown> | undefined;
}

async function dos(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
	let stdout = '';
	let stderr = '';
	const sink = (write: (text: string) => void) =>
		new Writable({
			write: (chunk: Buffer, _encoding, done) => {
				write(chunk.toString());
				done();
			}
		});
	const code = await runCli(args, {
		stdout: sink((text) => (stdout += text)),
		stderr: sink((text) => (stderr += text)),
		env: { DOS_WORKERS: '1', ...env },
		cwd,
		interactive: false,
		signal: new AbortController().signal
	});
	const last = stdout
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.at(-1);
	return { code, stdout, stderr, json: last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>) };
}

let work: string;
let repo: string;
beforeAll(async () => {
	work = await mkdtemp(path.join(tmpdir(), 'dos-key-'));
	repo = path.join(work, 'repo');
	await mkdir(path.join(repo, 'packs'), { recursive: true });
	const keys = await createKeys('first passphrase');
	await writeFile(path.join(repo, 'keys'), keys.file);
	await writeFile(path.join(work, 'second.txt'), 'second passphrase\n');
	await writeFile(path.join(work, 'third.txt'), 'third passphrase\n');
});
afterAll(async () => {
	await rm(work, { recursive: true, force: true });
});

describe('dos key and dos inspect <pack>', () => {
	it('GIVEN a repository WHEN slots are listed, added, changed and removed THEN each step says so and old passphrases stop working', async () => {
		const list = await dos(['key', 'list', repo, '--json'], { USER_KEY: 'first passphrase' }, work);
		expect(list.code).toBe(0);
		expect(list.json).toMatchObject({ authenticated: true });
		expect((list.json!.slots as unknown[]).length).toBe(1);

		const unauthenticated = await dos(['key', 'list', repo], {}, work);
		expect(unauthenticated.code).toBe(0);
		expect(unauthenticated.stdout).toMatch(/not authenticated/);

		const add = await dos(['key', 'add', repo, '--passphrase-file', 'second.txt', '--json'], { USER_KEY: 'first passphrase' }, work);
		expect(add.code).toBe(0);
		expect(add.stdout).not.toContain('second passphrase');
		expect(listSlots(await readFile(path.join(repo, 'keys'))).slots.length).toBe(2);

		const passwd = await dos(['key', 'passwd', repo, '--passphrase-file', 'third.txt', '--json'], { USER_KEY: 'first passphrase' }, work);
		expect(passwd.code).toBe(0);
		const wrong = await dos(['key', 'list', repo, '--json'], { USER_KEY: 'first passphrase' }, work);
		expect(wrong.code).toBe(1);
		expect(wrong.stdout + wrong.stderr).toMatch(/WRONG_KEY|Wrong passphrase/);
		const third = await dos(['key', 'list', repo, '--json'], { USER_KEY: 'third passphrase' }, work);
		expect(third.code).toBe(0);
		const slots = third.json!.slots as { id: string }[];
		expect(slots.length).toBe(2);

		const removed = await dos(['key', 'remove', repo, (add.json!.added as { id: string }).id, '--json'], { USER_KEY: 'third passphrase' }, work);
		expect(removed.code).toBe(0);
		expect((await dos(['key', 'list', repo], { USER_KEY: 'second passphrase' }, work)).code).toBe(1);
		const last = await dos(['key', 'remove', repo, third.json!.opened as string], { USER_KEY: 'third passphrase' }, work);
		expect(last.code).toBe(2);
		expect(last.stdout + last.stderr).toMatch(/last key slot/);
	});

	it('GIVEN a new passphrase as an argument WHEN adding THEN it is a usage error and nothing changes', async () => {
		const before = await readFile(path.join(repo, 'keys'));
		const run = await dos(['key', 'add', repo, 'fourth passphrase'], { USER_KEY: 'third passphrase' }, work);
		expect(run.code).toBe(2);
		expect((await readFile(path.join(repo, 'keys'))).equals(before)).toBe(true);
		expect((await dos(['key', 'add', path.join(work, 'nowhere'), '--passphrase-file', 'second.txt'], { USER_KEY: 'x' }, work)).code).toBe(2);
		// A passphrase USER_KEY would refuse (under 8 characters) would lock the repository out: refused before anything.
		await writeFile(path.join(work, 'short.txt'), 'abc\n');
		await writeFile(path.join(work, 'spaced.txt'), '  a passphrase with spaces around  \n');
		for (const command of ['add', 'passwd']) {
			const short = await dos(['key', command, repo, '--passphrase-file', 'short.txt'], { USER_KEY: 'third passphrase' }, work);
			expect(short.code).toBe(2);
			expect(short.stdout + short.stderr).toMatch(/too short .*nothing was changed/);
			const spaced = await dos(['key', command, repo, '--passphrase-file', 'spaced.txt'], { USER_KEY: 'third passphrase' }, work);
			expect(spaced.code).toBe(2);
			expect(spaced.stdout + spaced.stderr).toMatch(/begins or ends with a space.*nothing was changed/);
		}
		expect((await readFile(path.join(repo, 'keys'))).equals(before)).toBe(true);
	});

	it('GIVEN a pack in the repository WHEN inspected THEN the trailer shows without a key and the blobs with USER_KEY', async () => {
		const { unlockKeys } = await import('../../src/core/repo/keys.js');
		const keys = await unlockKeys(await readFile(path.join(repo, 'keys')), 'third passphrase');
		const writer = new PackBuilder(keys.blobKeys());
		const blob = await sealBlob(keys.blobKeys(), Buffer.from('hello pack '.repeat(1000)), 'zstd-3');
		writer.add(blob);
		const pack = writer.finish();
		const file = path.join(repo, 'packs', pack.name);
		await writeFile(file, pack.bytes);

		const sealed = await dos(['inspect', file, '--json'], {}, work);
		expect(sealed.code).toBe(0);
		expect(sealed.json).toMatchObject({ pack: { name: pack.name, nameMatches: true, storedSize: pack.bytes.length } });

		const open = await dos(['inspect', file, '--json'], { USER_KEY: 'third passphrase' }, work);
		expect(open.code).toBe(0);
		expect(open.json).toMatchObject({ pack: { entries: [{ id: blob.id.toString('hex'), codec: 'zstd-3', rawLength: 11000 }] } });

		const forged = Buffer.from(pack.bytes);
		forged[forged.length - 20]! ^= 1;
		await writeFile(file, forged);
		expect((await dos(['inspect', file], { USER_KEY: 'third passphrase' }, work)).code).toBe(1);
	});

	it('GIVEN a tree sliced into a repository WHEN one of its packs is inspected THEN without a key its trailer, size, blob count and name are checked, with USER_KEY its blobs are listed, and a flipped header byte is TAMPERED_CHUNK', async () => {
		const source = path.join(work, 'tree');
		await mkdir(path.join(source, 'docs'), { recursive: true });
		await writeFile(path.join(source, 'docs/a.txt'), 'a line of text that compresses\n'.repeat(20_000));
		// Under the CDC minimum (256 KiB): one blob whatever the bytes.
		await writeFile(path.join(source, 'b.bin'), randomBytes(200_000));
		await writeFile(path.join(source, 'docs/c.txt'), 'small');
		const env = { USER_KEY: 'slice passphrase' };
		const sliced = await dos(['slice', source, '--out', path.join(work, 'sliced'), '--json'], env, work);
		expect(sliced.stderr).toBe('');
		expect(sliced.code).toBe(0);
		const [name, ...others] = await readdir(path.join(work, 'sliced/packs'));
		expect(others).toEqual([]);
		const file = path.join(work, 'sliced/packs', name!);
		const bytes = await readFile(file);

		const keyless = await dos(['inspect', file, '--json'], {}, work);
		expect(keyless.code).toBe(0);
		expect(keyless.json).toMatchObject({ pack: { kind: 'pack', name, nameMatches: true, storedSize: bytes.length, blobs: 3 } });
		expect((keyless.json!.pack as Record<string, unknown>).entries).toBeUndefined();
		expect((await dos(['inspect', file], {}, work)).stdout).toMatch(/3 blobs[\s\S]*matches the SHA-256[\s\S]*set USER_KEY/);

		const keyed = await dos(['inspect', file, '--json'], env, work);
		expect(keyed.code).toBe(0);
		const pack = keyed.json!.pack as {
			blobAreaLength: number;
			entries: { id: string; offset: number; storedLength: number; rawLength: number; codec: string }[];
		};
		expect(pack.entries).toHaveLength(3);
		// The entries tile the blob area, and hold exactly the blobs the archive's manifest names.
		let offset = 0;
		for (const entry of [...pack.entries].sort((a, b) => a.offset - b.offset)) {
			expect(entry.offset).toBe(offset);
			offset += entry.storedLength;
		}
		expect(offset).toBe(pack.blobAreaLength);
		expect(pack.entries.map((entry) => [entry.rawLength, entry.codec]).sort()).toEqual(
			[
				[5, 'none'],
				[620_000, 'gzip-9'],
				[200_000, 'none']
			].sort()
		);
		const archive = (await readdir(path.join(work, 'sliced/archives')))[0]!;
		const manifest = await dos(['inspect', path.join(work, 'sliced/archives', archive, 'manifest.0'), '--json'], env, work);
		const named = (manifest.json!.manifest as { entries: { blobs?: string[] }[] }).entries.flatMap((entry) => entry.blobs ?? []);
		expect(pack.entries.map((entry) => entry.id).sort()).toEqual(named.sort());

		// One byte of the sealed header flipped: the name no longer matches, and the key refuses the header.
		const forged = Buffer.from(bytes);
		forged[pack.blobAreaLength + 20]! ^= 1;
		await writeFile(file, forged);
		const renamed = await dos(['inspect', file, '--json'], {}, work);
		expect(renamed.code).toBe(0);
		expect(renamed.json).toMatchObject({ pack: { nameMatches: false } });
		const refused = await dos(['inspect', file], env, work);
		expect(refused.code).toBe(1);
		expect(refused.stdout + refused.stderr).toMatch(/does not authenticate[\s\S]*TAMPERED_CHUNK/);
	}, 60_000);
});
