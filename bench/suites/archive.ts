/**
 * The archive service end to end through the emulator with Discord-like limits (10 MiB attachments, 5 messages per
 * 5 s per channel): upload and download throughput of one archive and of several in parallel, as a fraction of the
 * ceiling those limits allow; the overhead of resuming a 90 %-done archive; and peak RSS during a 2 GiB upload.
 *
 * The emulator runs in its own process (the built `dist/emulator`); the archive service runs as built (`dist/`) in the
 * case process, so the case's peak RSS is the service's (with its worker threads).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type * as Archive from '../../src/archive/index.js';
import type * as Core from '../../src/core/index.js';
import type * as Db from '../../src/db/index.js';
import type * as Discord from '../../src/discord/index.js';
import type { generateCorpus } from '../harness/corpus.js';
import { MODULE_EXTENSION, distEntry, distEntryUrl } from '../harness/paths.js';
import type { BenchSuite, CaseParams, CaseResult, SuiteContext, TargetCheck } from '../harness/suite.js';
import { peakRssTarget } from '../harness/targets.js';

const MiB = 1024 * 1024;
const CHUNK = 9_961_472;
const EMULATOR = distEntry('emulator');
/** Discord's observed message limit per channel (DISCORD.md). */
const MESSAGES_PER_WINDOW = 5;
const WINDOW_SECONDS = 5;

async function load() {
	const dist = distEntryUrl;
	return {
		archive: (await import(dist('archive'))) as typeof Archive,
		core: (await import(dist('core'))) as typeof Core,
		db: (await import(dist('db'))) as typeof Db,
		discord: (await import(dist('discord'))) as typeof Discord
	};
}

interface Started {
	api: string;
	control: string;
	token: string;
	archive: string;
	log: string;
}

/** Starts the built emulator in its own process; `discordLimits` false lifts the message rate limit (memory case). */
async function startEmulatorProcess(dataDir: string, discordLimits: boolean) {
	const limits = discordLimits
		? { attachmentBytes: 10 * MiB, channelMessagesPerWindow: MESSAGES_PER_WINDOW, channelMessageWindowMs: WINDOW_SECONDS * 1000 }
		: { channelMessagesPerWindow: 1_000_000, globalRequestsPerSecond: 1_000_000, routeRequestsPerSecond: 1_000_000 };
	const entry = `
const { startEmulator } = await import(${JSON.stringify(EMULATOR)});
const emulator = await startEmulator({ dataDir: ${JSON.stringify(dataDir)}, limits: ${JSON.stringify(limits)} });
process.stdout.write(JSON.stringify({ api: emulator.apiUrl, control: emulator.controlUrl, token: emulator.token, archive: emulator.ids.channels.archive, log: emulator.ids.channels.log }) + '\\n');
process.on('SIGTERM', () => emulator.close().then(() => process.exit(0)));
`;
	const child = spawn(process.execPath, ['--input-type=module', '-e', entry], { stdio: ['ignore', 'pipe', 'inherit'] });
	const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
	return { child, started: JSON.parse(line) as Started };
}

/**
 * Generates a corpus in a process of its own: generating a gigabyte leaves memory the allocator keeps, which would
 * count in the peak RSS of the case process, whose peak must be the service's alone.
 */
async function generateCorpusInChild(dir: string, spec: Parameters<typeof generateCorpus>[1]): Promise<void> {
	const corpus = new URL(`../harness/corpus${MODULE_EXTENSION}`, import.meta.url).href;
	const entry = `const { generateCorpus } = await import(${JSON.stringify(corpus)}); await generateCorpus(${JSON.stringify(dir)}, ${JSON.stringify(spec)});`;
	const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', entry], { stdio: ['ignore', 'inherit', 'inherit'] });
	const [code] = (await once(child, 'exit')) as [number | null];
	if (code !== 0) throw new Error(`Generating the corpus in ${dir} failed (exit code ${code}).`);
}

/** The process's high-water mark so far, in MB: taken after an upload, the upload's own peak, apart from a download's. */
function peakRssMb(): number {
	return Math.round((process.resourceUsage().maxRSS * 1024) / 1e6);
}

interface Stats {
	status429: number;
	messages: number;
	bytesStored: number;
}

/** The seconds Discord-like limits need at least to post `messages` into one channel (5 at once, then 5 per 5 s). */
export function ceilingSeconds(messages: number): number {
	return Math.max(1, Math.ceil(messages / MESSAGES_PER_WINDOW) - 1) * WINDOW_SECONDS;
}

/** One case: an emulator, an index and a service, with `archives` folders of `chunks` chunks each. */
async function withService<T>(params: CaseParams, work: (env: Awaited<ReturnType<typeof setUp>>) => Promise<T>): Promise<T> {
	const env = await setUp(params);
	try {
		return await work(env);
	} finally {
		await env.close();
	}
}

async function setUp(params: CaseParams) {
	const { archive, core, db, discord } = await load();
	const root = String(params.dir);
	await rm(root, { recursive: true, force: true });
	const uploadRoot = path.join(root, 'uploads');
	const downloadRoot = path.join(root, 'downloads');
	await mkdir(downloadRoot, { recursive: true });
	const folders: string[] = [];
	for (let index = 0; index < Number(params.archives); index++) {
		const name = `folder-${index}`;
		await generateCorpusInChild(path.join(uploadRoot, name), {
			kind: params.kind === 'text' ? 'text' : 'random',
			name,
			files: Number(params.files ?? 4),
			bytes: Number(params.bytes),
			seed: `archive-${index}`
		});
		folders.push(name);
	}
	const { child, started } = await startEmulatorProcess(path.join(root, 'emulator'), params.discordLimits !== false);
	const index = db.openIndex({ path: path.join(root, 'index.sqlite') });
	const transport = new discord.DiscordTransport({ token: started.token, apiUrl: started.api });
	// As openArchiveContext makes it for the bot and the CLI: the service's threads free their dead buffers early.
	core.collectBufferGarbage(core.SERVICE_CHURN_BYTES);
	const pool = core.createCryptoPool({ workers: Number(params.workers ?? 2), collectGarbageEvery: core.SERVICE_CHURN_BYTES });
	const context: Archive.ArchiveContext = {
		index,
		transport,
		pool,
		settings: {
			passphrase: 'bench passphrase',
			uploadRoot,
			downloadRoot,
			archiveChannelId: started.archive,
			logChannelId: undefined,
			chunkSize: CHUNK,
			gzipLevel: Number(params.gzipLevel ?? 6),
			attachmentLimit: 10 * MiB,
			uploadConcurrency: Number(params.archives),
			...(params.format === 2 ? { format: 2 as const, compression: String(params.codec ?? 'zstd-3'), tempRoot: path.join(root, 'tmp') } : {})
		},
		holder: db.createHolderToken(),
		log: () => undefined
	};
	const service = new archive.ArchiveService(context);
	const stats = async () => (await (await fetch(`${started.control}/stats`)).json()) as Stats;
	return {
		archive,
		core,
		service,
		context,
		folders,
		stats,
		async close() {
			await service.shutdown();
			transport.close();
			index.close();
			await pool.close();
			const exited = once(child, 'exit');
			child.kill('SIGTERM');
			await exited;
			await rm(root, { recursive: true, force: true });
		}
	};
}

const cases = {
	/** Uploads `archives` folders in parallel, then downloads each; reports both against the limits' ceiling. */
	async transfer(params: CaseParams) {
		return withService(params, async ({ service, folders, stats }) => {
			const before = await stats();
			const started = performance.now();
			const handles = await Promise.all(folders.map((folder) => service.upload({ folder })));
			const uploaded = await Promise.all(handles.map((handle) => handle.result));
			const uploadSeconds = (performance.now() - started) / 1000;
			const uploadPeak = peakRssMb();
			const after = await stats();
			const bytes = uploaded.reduce((sum, result) => sum + result.originalBytes, 0);
			// Format 2 carries several packs per message: its thread messages are those the emulator counted, less each
			// archive's card and thread start (in the archive channel), shared out among the threads.
			const messagesPerThread =
				params.format === 2
					? Math.ceil((after.messages - before.messages - 2 * folders.length) / folders.length)
					: Math.max(...uploaded.map((result) => result.chunks + result.manifestParts));
			const ceiling = bytes / ceilingSeconds(messagesPerThread);
			const downloadStart = performance.now();
			for (const result of uploaded) await service.download({ archive: result.archiveId }).result;
			const downloadSeconds = (performance.now() - downloadStart) / 1000;
			return {
				bytes,
				chunks: uploaded.reduce((sum, result) => sum + result.chunks, 0),
				storedBytes: uploaded.reduce((sum, result) => sum + result.storedBytes, 0),
				seconds: uploadSeconds,
				note:
					`upload ${(bytes / MiB / uploadSeconds).toFixed(1)} MiB/s = ${((bytes / uploadSeconds / ceiling) * 100).toFixed(0)} % of the ${(ceiling / MiB).toFixed(1)} MiB/s the limits allow ` +
					`(${folders.length} thread(s), ${messagesPerThread} messages each); 429s ${after.status429 - before.status429}; ` +
					`download + restore ${(bytes / MiB / downloadSeconds).toFixed(1)} MiB/s; upload peak RSS ${uploadPeak} MB`
			};
		});
	},

	/** Uploads one archive, stops it at 90 %, then measures the resume against posting the missing 10 % alone. */
	async resume(params: CaseParams) {
		return withService(params, async ({ archive, service, context, folders }) => {
			const planned = await archive.planUpload(context, { folder: folders[0]! });
			if (planned.format !== 1) throw new Error('The resume benchmark measures format 1 uploads.');
			const total = planned.plan.chunkCount;
			const stopAt = Math.floor(total * 0.9);
			const controller = new AbortController();
			const uploadStart = performance.now();
			await archive
				.uploadArchive(context, planned, {
					jobId: 'bench',
					signal: controller.signal,
					progress: (event) => {
						if (event.phase === 'uploading' && event.chunksDone >= stopAt) controller.abort();
					}
				})
				.catch(() => undefined);
			const partialSeconds = (performance.now() - uploadStart) / 1000;
			const stored = context.index.archives.require(planned.archive.lot).storedChunkCount;
			const resumeStart = performance.now();
			const result = await service.resume({ archive: planned.archive.id }).result;
			const resumeSeconds = (performance.now() - resumeStart) / 1000;
			const perChunk = partialSeconds / Math.max(1, stored);
			const ideal = perChunk * (total - stored);
			return {
				bytes: result.originalBytes,
				chunks: result.chunksPosted,
				seconds: resumeSeconds,
				note: `${stored}/${total} chunks stored before the resume; resume ${resumeSeconds.toFixed(1)} s posting ${result.chunksPosted} chunk(s) vs ${ideal.toFixed(1)} s to post them at the upload's pace: overhead ${(resumeSeconds - ideal).toFixed(1)} s (reconcile + re-reading only the files that touch a missing chunk or lack a recorded hash)`
			};
		});
	},

	/**
	 * One folder uploaded under Discord-like limits, timed end to end with the messages the emulator counted: format 1
	 * (chunks), or format 2 (packs of new blobs, two to a message), which then uploads the same folder again unchanged.
	 * Then the first archive is downloaded and restored.
	 */
	async formats(params: CaseParams) {
		return withService(params, async ({ service, folders, stats }) => {
			const upload = async () => {
				const before = await stats();
				const started = performance.now();
				const result = await (await service.upload({ folder: folders[0]! })).result;
				const seconds = (performance.now() - started) / 1000;
				const after = await stats();
				return { result, seconds, messages: after.messages - before.messages, status429: after.status429 - before.status429 };
			};
			const first = await upload();
			const again = params.format === 2 ? await upload() : undefined;
			const uploadPeak = peakRssMb();
			const downloadStart = performance.now();
			await service.download({ archive: first.result.archiveId }).result;
			const downloadSeconds = (performance.now() - downloadStart) / 1000;
			const bytes = first.result.originalBytes;
			return {
				bytes,
				chunks: first.messages,
				storedBytes: first.result.storedBytes,
				seconds: first.seconds,
				note:
					`first upload ${first.seconds.toFixed(1)} s in ${first.messages} messages; 429s ${first.status429}` +
					(again === undefined
						? ''
						: `; unchanged second upload ${again.seconds.toFixed(1)} s in ${again.messages} messages (${(again.result.newBytes ?? 0).toLocaleString('en-US')} B new); 429s ${again.status429}`) +
					`; download + restore ${(bytes / MiB / downloadSeconds).toFixed(1)} MiB/s` +
					`; upload peak RSS ${uploadPeak} MB, download peak RSS ${peakRssMb()} MB`
			};
		});
	},

	/** Uploads one large archive with the rate limit lifted: peak RSS must stay flat whatever the size. */
	async memory(params: CaseParams) {
		return withService(params, async ({ service, folders }) => {
			const started = performance.now();
			const result = await (await service.upload({ folder: folders[0]! })).result;
			const seconds = (performance.now() - started) / 1000;
			return {
				bytes: result.originalBytes,
				chunks: result.chunks,
				storedBytes: result.storedBytes,
				seconds,
				note: `${(result.originalBytes / MiB).toFixed(0)} MiB in ${result.chunks} chunks, ${(result.originalBytes / MiB / seconds).toFixed(1)} MiB/s without rate limits`
			};
		});
	}
} satisfies BenchSuite['cases'];

async function run(context: SuiteContext) {
	const chunks = (count: number) => Math.max(1, Math.round(count * context.scale)) * CHUNK;
	const dir = (id: string) => path.join(context.scratch, id.replace(/\//g, '-'));
	const results: CaseResult[] = [];
	const spec: { id: string; kind: string; label: string; params: CaseParams }[] = [
		{ id: 'transfer/1x30', kind: 'transfer', label: 'one archive of 30 chunks, Discord-like limits', params: { archives: 1, bytes: chunks(30) } },
		{
			id: 'transfer/3x15',
			kind: 'transfer',
			label: 'three archives of 15 chunks in parallel, Discord-like limits',
			params: { archives: 3, bytes: chunks(15) }
		},
		{ id: 'resume/90pct', kind: 'resume', label: 'resume of a 90 %-done archive of 30 chunks', params: { archives: 1, bytes: chunks(30) } },
		{
			id: 'memory/2g',
			kind: 'memory',
			label: '2 GiB upload, rate limits lifted',
			params: { archives: 1, files: 8, bytes: Math.max(CHUNK, Math.round(2048 * MiB * context.scale)), discordLimits: false, gzipLevel: 1 }
		}
	];
	spec.push(
		{
			id: 'transfer/3x15-f2',
			kind: 'transfer',
			label: 'three format 2 archives of 15 chunks’ worth in parallel (zstd-3), Discord-like limits',
			params: { archives: 3, bytes: chunks(15), format: 2, codec: 'zstd-3' }
		},
		{
			id: 'memory/2g-f2',
			kind: 'memory',
			label: '2 GiB format 2 upload (zstd-3), rate limits lifted',
			params: {
				archives: 1,
				files: 8,
				bytes: Math.max(CHUNK, Math.round(2048 * MiB * context.scale)),
				discordLimits: false,
				format: 2,
				codec: 'zstd-3'
			}
		}
	);
	// DOS_BENCH_ARCHIVE=formats runs only the formats cases; a comma-separated list of case ids (or id prefixes) runs those.
	const only =
		process.env.DOS_BENCH_ARCHIVE?.split(',')
			.map((part) => part.trim())
			.filter((part) => part.length > 0) ?? [];
	const wanted = (id: string) => only.length === 0 || only.some((prefix) => id.startsWith(prefix));
	const gib = Math.max(CHUNK, Math.round(1024 * MiB * context.scale));
	const formats: { id: string; kind: string; label: string; params: CaseParams }[] = [];
	for (const kind of ['text', 'random'] as const) {
		formats.push({
			id: `formats/${kind}-1g/f1`,
			kind: 'formats',
			label: `1 GiB of ${kind}, format 1`,
			params: { archives: 1, bytes: gib, kind }
		});
		for (const codec of kind === 'text' ? ['zstd-3', 'gzip-9'] : ['zstd-3'])
			formats.push({
				id: `formats/${kind}-1g/f2-${codec}`,
				kind: 'formats',
				label: `1 GiB of ${kind}, format 2, ${codec}, then again unchanged`,
				params: { archives: 1, bytes: gib, kind, format: 2, codec }
			});
	}
	for (const entry of [...spec, ...formats].filter((entry) => wanted(entry.id)))
		results.push(await context.runCase({ ...entry, workers: 2, params: { ...entry.params, dir: dir(entry.id) } }));
	const byId = (id: string) => results.find((result) => result.id === id);
	const targets: TargetCheck[] = [];
	if (byId('memory/2g'))
		targets.push(peakRssTarget('archive-upload-rss', 'peak RSS of the service during a 2 GiB upload', [byId('memory/2g')], 600e6));
	if (byId('memory/2g-f2'))
		targets.push(peakRssTarget('format2-memory-rss', 'peak RSS of the service during a 2 GiB format 2 upload', [byId('memory/2g-f2')], 300e6));
	const parallel = byId('transfer/3x15-f2');
	if (parallel) {
		const mb = Number(/upload peak RSS (\d+) MB/.exec(parallel.note ?? '')?.[1] ?? Number.NaN);
		targets.push({
			id: 'format2-parallel-rss',
			description: 'peak RSS of the service during three format 2 uploads in parallel (before their downloads)',
			measured: parallel.ok
				? `${mb} MB (with the downloads ${Math.round(parallel.peakRssBytes / 1e6)} MB)`
				: `case failed: ${parallel.note ?? parallel.error ?? ''}`,
			threshold: '< 300 MB',
			pass: parallel.ok && mb < 300
		});
	}
	if (!formats.some((entry) => byId(entry.id))) return { corpora: [], cases: results, targets, notes: notes() };
	const noteNumber = (result: CaseResult | undefined, pattern: RegExp) => Number(pattern.exec(result?.note ?? '')?.[1] ?? Number.NaN);
	const speedup = (kind: string, codec: string, at: number, label: string) => {
		const one = byId(`formats/${kind}-1g/f1`);
		const two = byId(`formats/${kind}-1g/f2-${codec}`);
		const ratio = one?.ok && two?.ok ? one.seconds / two.seconds : Number.NaN;
		targets.push({
			id: `format2-speed-${kind}-${codec}`,
			description: `format 2 (${codec}) upload ≥ ${at}× faster than format 1, 1 GiB of ${kind}${label}`,
			measured: `${two?.seconds.toFixed(1) ?? '?'} s vs ${one?.seconds.toFixed(1) ?? '?'} s = ${ratio.toFixed(2)}×`,
			threshold: `≥ ${at}×`,
			pass: ratio >= at
		});
	};
	speedup('text', 'zstd-3', 5, '');
	speedup('text', 'gzip-9', 5, ' — reported');
	speedup('random', 'zstd-3', 1.8, '');
	const text2 = byId('formats/text-1g/f2-zstd-3');
	targets.push({
		id: 'format2-messages-text',
		description: 'format 2 (zstd-3) posts 1 GiB of text in ≤ 12 messages (card and thread start included)',
		measured: `${text2?.chunks ?? 'missing'}`,
		threshold: '≤ 12',
		pass: text2?.ok === true && (text2.chunks ?? Number.POSITIVE_INFINITY) <= 12
	});
	for (const id of ['formats/text-1g/f2-zstd-3', 'formats/random-1g/f2-zstd-3']) {
		const result = byId(id);
		const seconds = noteNumber(result, /unchanged second upload ([\d.]+) s/);
		const messages = noteNumber(result, /unchanged second upload [\d.]+ s in (\d+) messages/);
		targets.push({
			id: `format2-unchanged-${id}`,
			description: `an unchanged second upload takes ≤ 10 s and ≤ 3 messages (${id})`,
			measured: `${seconds} s, ${messages} messages`,
			threshold: '≤ 10 s, ≤ 3 messages',
			pass: seconds <= 10 && messages <= 3
		});
	}
	// The case's peak covers its download too; the upload's own peak is the high-water mark taken before it.
	const uploadPeaks = formats.map((entry) => ({ id: entry.id, mb: noteNumber(byId(entry.id), /upload peak RSS (\d+) MB/) }));
	const worstUpload = uploadPeaks.reduce((a, b) => (Number.isNaN(b.mb) || b.mb > a.mb ? b : a));
	targets.push(
		{
			id: 'format2-upload-rss',
			description: 'peak RSS of the service during every format 1 and format 2 upload of 1 GiB (before its download)',
			measured: `max ${worstUpload.mb} MB (${worstUpload.id})`,
			threshold: '< 300 MB',
			pass: worstUpload.mb < 300
		},
		peakRssTarget(
			'format2-case-rss',
			'peak RSS of every format 1 and format 2 case of 1 GiB, its download and restore included — reported',
			formats.map((entry) => byId(entry.id)),
			300e6
		)
	);
	return { corpora: [], cases: results, targets, notes: notes() };
}

function notes(): string[] {
	return [
		`The ceiling of the limits: ${MESSAGES_PER_WINDOW} messages per ${WINDOW_SECONDS} s per thread, 9.5 MiB of plaintext per message; n messages need at least (⌈n/5⌉ − 1) × 5 s.`,
		'Throughput counts plaintext bytes; download + restore includes fetching fresh URLs, hashing, decrypting, inflating and writing every file.',
		'Resume overhead: the resume re-reads only the files that touch a missing chunk or lack a recorded hash, and re-hashes every stored chunk those files have a byte in (read whole) against its recorded plaintext hash, before posting the missing ones.',
		'Formats: the same 1 GiB folder (4 files of generated text or random bytes) uploaded as format 1 (gzip-6 chunks) and as format 2 (DOS_FORMAT=2: content-defined blobs, only new ones posted, 9.5 MiB packs two to a message); the chunks column of these cases is the messages the emulator counted for the upload (card and thread start included). `DOS_BENCH_ARCHIVE=formats npm run bench -- archive` runs only them (a comma-separated list of case ids runs those).',
		'Format 2 in parallel and at 2 GiB (transfer/3x15-f2, memory/2g-f2): the upload format of the bot by default; three archives of different random bytes (nothing to dedup), and 8 files of random bytes with the rate limits lifted.'
	];
}

export const suite: BenchSuite = {
	name: 'archive',
	description: 'the archive service through the emulator with Discord-like limits: upload/download throughput, resume overhead, upload memory',
	cases,
	run
};
