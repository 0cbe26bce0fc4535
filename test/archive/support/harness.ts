import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { ArchiveContext, ArchiveLog, ArchiveSettings, JobProgressEvent, JobRun } from '../../../src/archive/context.js';
import {
	assemble,
	type AssembleResult,
	type CryptoPool,
	createCryptoPool,
	type Manifest,
	openManifest,
	parseStagedName
} from '../../../src/core/index.js';
import { createHolderToken, type HistoryIndex, openIndex } from '../../../src/db/index.js';
import { DiscordTransport, type DiscordTransportOptions } from '../../../src/discord/index.js';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../../src/emulator/index.js';

/**
 * Shared integration-test scaffolding for src/archive: a real emulator on 127.0.0.1, a real SQLite index file in a
 * temp dir, upload and download roots, a crypto pool and an {@link ArchiveContext} built from them. Both halves of the
 * archive service's tests use it; nothing here mocks Discord or SQLite.
 */

/** The passphrase every harness uses (tests only). */
export const testPassphrase = 'correct horse battery staple';
/** PBKDF2 iterations for new archives in tests: the full 600,000 would cost ~0.5 s of CPU per archive. */
export const testKdfIterations = 1_000;
/** Fast backoff so fault tests do not sleep for seconds. */
export const fastRetry = { attempts: 8, baseDelayMs: 10, maxDelayMs: 200 } as const;

export interface HarnessOptions {
	/** Emulator options (limits, attachment limit…). */
	readonly emulator?: EmulatorOptions;
	/** Overrides of the archive settings (chunk size 64 KiB, gzip 6, concurrency 2 and no log channel by default). */
	readonly settings?: Partial<ArchiveSettings>;
	/** Post index backups and job lines to the emulator's #log channel. Default false. */
	readonly withLogChannel?: boolean;
	/** Overrides of the transport options (fast retries and a high global rate by default). */
	readonly transport?: Partial<DiscordTransportOptions>;
	/** Crypto workers; default 2. */
	readonly workers?: number;
	/** Index clock (to expire leases without waiting). */
	readonly clock?: () => number;
}

/** A file or folder of a test tree: string or bytes for a file, `{ dir: true }`, or `{ symlink: target }`. */
export type TreeNode = string | Uint8Array | { readonly dir: true } | { readonly symlink: string };

/** Everything an archive integration test runs on. Call {@link ArchiveHarness.close} in `afterAll`/`afterEach`. */
export interface ArchiveHarness {
	readonly emulator: Emulator;
	/** The temp dir holding everything below. */
	readonly dir: string;
	readonly uploadRoot: string;
	readonly downloadRoot: string;
	/** The SQLite file of the index. */
	readonly indexPath: string;
	readonly index: HistoryIndex;
	readonly transport: DiscordTransport;
	readonly pool: CryptoPool;
	readonly settings: ArchiveSettings;
	readonly context: ArchiveContext;
	/** Log lines the context received, for assertions (and to prove no secret is logged). */
	readonly logLines: { level: string; message: string; fields?: Readonly<Record<string, unknown>> }[];
	readonly archiveChannelId: string;
	readonly logChannelId: string;
	/** Writes a tree of files under the upload root at `folder` and returns its absolute path. */
	writeTree(folder: string, tree: Readonly<Record<string, TreeNode>>): Promise<string>;
	/** A fresh {@link JobRun} whose events are collected in `events`. */
	jobRun(options?: { readonly signal?: AbortSignal; readonly jobId?: string }): JobRun & { readonly events: JobProgressEvent[] };
	/** Another transport to the same emulator (e.g. to download independently of the job's). */
	newTransport(overrides?: Partial<DiscordTransportOptions>): DiscordTransport;
	/** Reopens the index (after a simulated crash closed it, or to share the file between two contexts). */
	reopenIndex(): HistoryIndex;
	/** A second context on the same file and emulator, with its own holder and transport (a second process). */
	secondContext(): ArchiveContext;
	close(): Promise<void>;
}

/**
 * Starts an emulator and builds an archive context around it in a fresh temp dir.
 */
export async function startArchiveHarness(options: HarnessOptions = {}): Promise<ArchiveHarness> {
	const dir = await mkdtemp(path.join(tmpdir(), 'dos-archive-'));
	const uploadRoot = path.join(dir, 'uploads');
	const downloadRoot = path.join(dir, 'downloads');
	await mkdir(uploadRoot, { recursive: true });
	await mkdir(downloadRoot, { recursive: true });
	const emulator = await startEmulator({ port: 0, ...options.emulator });
	const indexPath = path.join(dir, 'index', 'dos.sqlite');
	const indexes: HistoryIndex[] = [];
	const transports: DiscordTransport[] = [];
	const pools: CryptoPool[] = [];
	const open = () => {
		const opened = openIndex({ path: indexPath, ...(options.clock ? { clock: options.clock } : {}) });
		indexes.push(opened);
		return opened;
	};
	const newTransport = (overrides: Partial<DiscordTransportOptions> = {}) => {
		const transport = new DiscordTransport({
			token: emulator.token,
			apiUrl: emulator.apiUrl,
			globalRequestsPerSecond: 1000,
			retry: fastRetry,
			downloadRetry: fastRetry,
			threadCapRetry: fastRetry,
			...options.transport,
			...overrides
		});
		transports.push(transport);
		return transport;
	};
	const settings: ArchiveSettings = {
		passphrase: testPassphrase,
		uploadRoot,
		downloadRoot,
		archiveChannelId: emulator.ids.channels.archive,
		logChannelId: options.withLogChannel ? emulator.ids.channels.log : undefined,
		chunkSize: 64 * 1024,
		gzipLevel: 6,
		attachmentLimit: emulator.limits().attachmentBytes,
		uploadConcurrency: 2,
		kdfIterations: testKdfIterations,
		cardEditIntervalMs: 200,
		...options.settings
	};
	const logLines: ArchiveHarness['logLines'] = [];
	const log: ArchiveLog = (level, message, fields) => {
		logLines.push({ level, message, ...(fields ? { fields } : {}) });
	};
	const newPool = () => {
		const pool = createCryptoPool({ workers: options.workers ?? 2 });
		pools.push(pool);
		return pool;
	};
	const index = open();
	const transport = newTransport();
	const pool = newPool();
	const context: ArchiveContext = { index, transport, pool, settings, holder: createHolderToken(), log };
	let jobCounter = 0;
	return {
		emulator,
		dir,
		uploadRoot,
		downloadRoot,
		indexPath,
		index,
		transport,
		pool,
		settings,
		context,
		logLines,
		archiveChannelId: emulator.ids.channels.archive,
		logChannelId: emulator.ids.channels.log,
		writeTree: (folder, tree) => writeTree(path.join(uploadRoot, folder), tree),
		jobRun(runOptions = {}) {
			const events: JobProgressEvent[] = [];
			const jobId = runOptions.jobId ?? `test-${++jobCounter}`;
			return {
				jobId,
				signal: runOptions.signal ?? new AbortController().signal,
				events,
				progress: (event) => events.push({ ...event, jobId, at: Date.now() })
			};
		},
		newTransport,
		reopenIndex: open,
		secondContext: () => ({ index: open(), transport: newTransport(), pool, settings, holder: createHolderToken(), log }),
		async close() {
			for (const opened of indexes) opened.close();
			for (const opened of transports) opened.close();
			await Promise.all(pools.map((opened) => opened.close()));
			await emulator.close();
			await rm(dir, { recursive: true, force: true });
		}
	};
}

/**
 * Writes a tree under `root` (created), with fixed mtimes so repeated runs plan the same way.
 */
export async function writeTree(root: string, tree: Readonly<Record<string, TreeNode>>): Promise<string> {
	await mkdir(root, { recursive: true });
	for (const [relative, node] of Object.entries(tree)) {
		const target = path.join(root, ...relative.split('/'));
		await mkdir(path.dirname(target), { recursive: true });
		if (typeof node === 'string' || node instanceof Uint8Array) await writeFile(target, node);
		else if ('dir' in node) await mkdir(target, { recursive: true });
		else await symlink(node.symlink, target);
	}
	return root;
}

/** Deterministic pseudo-random bytes (incompressible), so chunk counts are predictable. */
export function randomContent(bytes: number, seed = 'seed'): Buffer {
	const out = Buffer.alloc(bytes);
	let counter = 0;
	for (let offset = 0; offset < bytes; offset += 32) {
		createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, offset);
	}
	return out;
}

/** A nested tree of mixed content: text, random bytes spanning several chunks, an empty file and folder, a symlink. */
export function nestedTree(scale = 1): Record<string, TreeNode> {
	return {
		'readme.txt': 'hello archive\n'.repeat(50),
		'photos/2024/a.jpg': randomContent(150_000 * scale, 'a'),
		'photos/2024/b.jpg': randomContent(40_000 * scale, 'b'),
		'photos/empty.bin': '',
		'docs/notes/today.md': '# notes\n'.repeat(2_000),
		'docs/empty-folder': { dir: true },
		'docs/link-to-readme': { symlink: '../readme.txt' },
		'tiny/1.txt': '1',
		'tiny/2.txt': '22',
		'tiny/3.txt': randomBytes(0)
	};
}

/** Sets a file's mtime (to make a source look changed without changing its size). */
export async function touch(file: string, when = new Date()): Promise<void> {
	await utimes(file, when, when);
}

/** One message of a thread as the emulator holds it, reduced to what chunk accounting needs. */
export interface ThreadFile {
	readonly messageId: string;
	readonly filename: string;
	readonly size: number;
}

/** Every attachment of a thread, oldest first, read through the emulator's control API (not through the transport). */
export function threadFiles(emulator: Emulator, threadId: string): ThreadFile[] {
	return emulator
		.messages(threadId)
		.flatMap((message) =>
			message.attachments.map((attachment) => ({ messageId: message.id, filename: attachment.filename, size: attachment.size }))
		);
}

/**
 * How many messages of a thread hold each data chunk and each manifest part (`c<index>` / `m<index>`), from the
 * opaque file names. "Exactly one message per chunk" means every count is 1 and the keys are `c0 … c(n-1)` and the parts.
 */
export function chunkCensus(emulator: Emulator, threadId: string): Map<string, number> {
	const census = new Map<string, number>();
	for (const file of threadFiles(emulator, threadId)) {
		const parsed = parseStagedName(file.filename);
		const key = parsed === undefined ? `?${file.filename}` : `${parsed.kind === 'data' ? 'c' : 'm'}${parsed.index}`;
		census.set(key, (census.get(key) ?? 0) + 1);
	}
	return census;
}

/**
 * Restores an archive straight from its thread, independently of the service's download job: downloads every
 * attachment through a fresh transport into memory, opens the manifest with the passphrase and assembles into `outDir`
 * with core's `assemble`.
 */
export async function restoreFromThread(
	harness: ArchiveHarness,
	threadId: string,
	outDir: string
): Promise<{ manifest: Manifest; result: AssembleResult }> {
	const transport = harness.newTransport();
	const data = new Map<number, Buffer>();
	const parts: Buffer[] = [];
	for await (const message of transport.pageMessages(threadId)) {
		for (const attachment of message.attachments) {
			const parsed = parseStagedName(attachment.filename);
			if (parsed === undefined) continue;
			const chunks: Buffer[] = [];
			await transport.downloadAttachment(
				{ channelId: threadId, messageId: message.id, attachmentId: attachment.id },
				{
					stream: new Writable({
						write(chunk: Buffer, _encoding, callback) {
							chunks.push(chunk);
							callback();
						}
					})
				},
				{ live: attachment }
			);
			const bytes = Buffer.concat(chunks);
			if (parsed.kind === 'manifest') parts.push(bytes);
			else data.set(parsed.index, bytes);
		}
	}
	const { manifest, key } = await openManifest(parts, testPassphrase);
	const result = await assemble({
		manifest,
		key,
		pool: harness.pool,
		outDir,
		source: (index) => {
			const bytes = data.get(index);
			if (bytes === undefined) return Promise.reject(new Error(`chunk ${index} is not in the thread`));
			return Promise.resolve(Buffer.from(bytes));
		}
	});
	return { manifest, result };
}

/** A run that aborts once `after` data chunks are stored, as a crash or Cancel would; `events` holds its progress. */
export function stoppingRun(after: number): JobRun & { events: JobProgressEvent[] } {
	const controller = new AbortController();
	const events: JobProgressEvent[] = [];
	return {
		jobId: 'stopping',
		signal: controller.signal,
		events,
		progress: (event) => {
			events.push({ ...event, jobId: 'stopping', at: Date.now() });
			if (event.phase === 'uploading' && event.chunksDone >= after) controller.abort();
		}
	};
}
