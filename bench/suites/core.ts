import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type * as Core from '../../src/core/index.js';
import { type CorpusSpec, generateCorpus } from '../harness/corpus.js';
import { runExternal } from '../harness/external.js';
import { distEntryUrl } from '../harness/paths.js';
import type { BenchSuite, CaseOutcome, CaseParams, CaseResult, CorpusInfo, SuiteContext, TargetCheck } from '../harness/suite.js';
import { chunkCountTarget, derivationTarget, peakRssTarget, rssGrowthTarget, throughputRatioTarget } from '../harness/targets.js';
import { ORIGINAL_SLICE_SIZE, sliceLikeOriginal } from '../references/legacy-slicer.js';

/**
 * The `core` suite: slicing and assembling throughput and peak RSS of the engine (format 1) on generated corpora,
 * with 1 worker and with all cores, beside the original tool's scheme, a `tar | gzip -9 | openssl enc` pipeline and
 * one plain `openssl enc -aes-256-ctr` pass as references; then format 2 (a repository: first slice, an unchanged
 * second run, a run with 1 % of the files edited, assemble) beside restic as the reference.
 * `DOS_BENCH_CORE=format2` runs only the format 2 part.
 */

const PASSPHRASE = 'bench passphrase: correct horse battery staple';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const ARCHIVE_ID = '#010125-01';
/** Files of the small-file corpus run through the original's scheme (one PBKDF2 each); the rest is projected. */
const LEGACY_SMALL_SAMPLE = 400;
/** Timed passes of the openssl yardstick; the fastest is kept. */
const YARDSTICK_PASSES = 3;

/** The engine as built: worker threads then run plain JavaScript, as in production. */
async function loadCore(): Promise<typeof Core> {
	return (await import(distEntryUrl('core'))) as typeof Core;
}

function text(params: CaseParams, key: string): string {
	const value = params[key];
	if (typeof value !== 'string') throw new Error(`parameter ${key} is missing`);
	return value;
}

function count(params: CaseParams, key: string): number {
	const value = params[key];
	if (typeof value !== 'number') throw new Error(`parameter ${key} is missing`);
	return value;
}

async function folderBytes(dir: string): Promise<{ files: number; bytes: number }> {
	let files = 0;
	let bytes = 0;
	for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
		if (!entry.isFile()) continue;
		files++;
		bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
	}
	return { files, bytes };
}

const cases = {
	/** Loads the engine and does nothing: the harness's own footprint (Node, tsx, the engine's modules). */
	async baseline(): Promise<CaseOutcome> {
		await loadCore();
		return { bytes: 0, note: 'harness footprint: Node + the engine modules, no work' };
	},

	/** `stageArchive`: walk, plan, one PBKDF2, slice + gzip + seal in the pool, write chunk files, seal the manifest. */
	async slice(params): Promise<CaseOutcome> {
		const core = await loadCore();
		const pool = core.createCryptoPool({ workers: count(params, 'workers') });
		try {
			const staged = await core.stageArchive({
				source: text(params, 'source'),
				outDir: text(params, 'outDir'),
				passphrase: PASSPHRASE,
				pool,
				archiveId: ARCHIVE_ID
			});
			const { totals } = staged.manifest;
			const compressed = staged.manifest.chunks.filter((chunk) => chunk.compressed).length;
			return {
				bytes: totals.bytes,
				files: totals.files,
				chunks: totals.chunks,
				storedBytes: totals.storedBytes,
				note: `${compressed}/${totals.chunks} chunks gzipped`
			};
		} finally {
			await pool.close();
		}
	},

	/** `assembleStagedFolder`: open the manifest (one PBKDF2), read, authenticate, inflate, write, check every file. */
	async assemble(params): Promise<CaseOutcome> {
		const core = await loadCore();
		const pool = core.createCryptoPool({ workers: count(params, 'workers') });
		try {
			const result = await core.assembleStagedFolder(text(params, 'staged'), text(params, 'outDir'), { passphrase: PASSPHRASE, pool });
			return { bytes: result.bytes, files: result.files, chunks: result.chunks, storedBytes: result.manifest.totals.storedBytes };
		} finally {
			await pool.close();
		}
	},

	/** The original tool's scheme (reference implementation): per file, 9.5 MiB slices, gzip -9, PBKDF2 per chunk. */
	async legacySlice(params): Promise<CaseOutcome> {
		const source = text(params, 'source');
		const limit = typeof params.limitFiles === 'number' ? params.limitFiles : Number.POSITIVE_INFINITY;
		const started = performance.now();
		const result = await sliceLikeOriginal(source, text(params, 'outDir'), PASSPHRASE, limit);
		const seconds = (performance.now() - started) / 1000;
		const total = (await readdir(source)).length;
		const note =
			result.files < total
				? `first ${result.files} of ${total} files; all ${total.toLocaleString('en-US')} would take ≈ ${((seconds * total) / result.files / 60).toFixed(0)} min and make ≥ ${total.toLocaleString('en-US')} chunks`
				: undefined;
		return {
			bytes: result.bytes,
			files: result.files,
			chunks: result.chunks,
			storedBytes: result.storedBytes,
			seconds,
			...(note === undefined ? {} : { note })
		};
	},

	/** Our legacy reader restoring what the reference slicer wrote (one PBKDF2 per chunk, two at a time). */
	async legacyRestore(params): Promise<CaseOutcome> {
		const core = await loadCore();
		const result = await core.restoreLegacyFolder(text(params, 'dir'), text(params, 'outDir'), { passphrase: PASSPHRASE });
		return {
			bytes: result.files.reduce((sum, file) => sum + file.size, 0),
			files: result.files.length,
			chunks: result.chunksRead,
			storedBytes: result.storedBytes
		};
	},

	/**
	 * The yardstick: one `openssl enc -aes-256-ctr` pass over every file, written out like our chunks. Writing 1 GiB
	 * into fresh page cache costs this VM anywhere from 0.3 to 4 s of kernel time, so the pass is timed
	 * {@link YARDSTICK_PASSES} times and the fastest kept: our slicing is compared with openssl at its best.
	 */
	async opensslCtr(params): Promise<CaseOutcome> {
		const source = text(params, 'source');
		const outDir = text(params, 'outDir');
		const names = (await readdir(source)).sort();
		const key = randomBytes(32).toString('hex');
		const iv = randomBytes(16).toString('hex');
		const passes: { seconds: number; peakRssBytes?: number }[] = [];
		for (let pass = 0; pass < YARDSTICK_PASSES; pass++) {
			await rm(outDir, { recursive: true, force: true });
			await mkdir(outDir, { recursive: true });
			passes.push(
				await runExternal(
					`out="$1"; shift; for f in "$@"; do openssl enc -aes-256-ctr -K ${key} -iv ${iv} -in "$f" -out "$out/$(basename "$f").enc"; done`,
					[outDir, ...names.map((name) => path.join(source, name))]
				)
			);
		}
		const best = passes.reduce((fastest, run) => (run.seconds < fastest.seconds ? run : fastest));
		const { bytes, files } = await folderBytes(source);
		return {
			bytes,
			files,
			seconds: best.seconds,
			note: `fastest of ${YARDSTICK_PASSES} passes (${passes.map((run) => run.seconds.toFixed(2)).join(' / ')} s)`,
			...(best.peakRssBytes === undefined ? {} : { externalPeakRssBytes: best.peakRssBytes })
		};
	},

	/** Format 2: `sliceToRepository` into a repository (new or existing): one PBKDF2, CDC, dedup, packs, manifest. */
	async repoSlice(params): Promise<CaseOutcome> {
		const core = await loadCore();
		const pool = core.createCryptoPool({ workers: count(params, 'workers') });
		try {
			const sliced = await core.sliceToRepository({
				source: text(params, 'source'),
				repo: text(params, 'repo'),
				passphrase: PASSPHRASE,
				pool,
				codec: core.parseCodec(text(params, 'codec')),
				packSize: core.DEFAULT_PACK_SIZE,
				dedup: 'repository',
				tool: 'bench'
			});
			const { totals } = sliced.manifest;
			const share = totals.bytes === 0 ? 0 : (100 * totals.newBytes) / totals.bytes;
			return {
				bytes: totals.bytes,
				files: totals.files,
				chunks: sliced.packs.length,
				storedBytes: totals.storedBytes,
				note: `${sliced.packs.length} packs; new ${totals.newBytes.toLocaleString('en-US')} B (${share.toFixed(2)} % of the corpus), reused ${totals.reusedBytes.toLocaleString('en-US')} B`
			};
		} finally {
			await pool.close();
		}
	},

	/** Format 2: `assembleFromRepository` of the newest archive (one PBKDF2, every blob authenticated, every file hash). */
	async repoAssemble(params): Promise<CaseOutcome> {
		const core = await loadCore();
		const pool = core.createCryptoPool({ workers: count(params, 'workers') });
		try {
			const result = await core.assembleFromRepository({
				repo: text(params, 'repo'),
				outDir: text(params, 'outDir'),
				passphrase: PASSPHRASE,
				pool
			});
			return { bytes: result.bytes, files: result.files, chunks: result.blobs };
		} finally {
			await pool.close();
		}
	},

	/** Reference: `restic backup` into a local repository (initialised beforehand, not timed, when new). */
	async resticBackup(params): Promise<CaseOutcome> {
		const source = text(params, 'source');
		const repo = text(params, 'repo');
		const env = `export RESTIC_PASSWORD="$3" RESTIC_REPOSITORY="$2" RESTIC_CACHE_DIR="$2.cache"`;
		await runExternal(`${env}; [ -f "$2/config" ] || restic init -q`, [source, repo, PASSPHRASE]);
		const run = await runExternal(`${env}; cd "$1" && restic backup -q .`, [source, repo, PASSPHRASE]);
		const { bytes, files } = await folderBytes(source);
		return {
			bytes,
			files,
			storedBytes: await treeBytes(path.join(repo, 'data')),
			seconds: run.seconds,
			...(run.peakRssBytes === undefined ? {} : { externalPeakRssBytes: run.peakRssBytes })
		};
	},

	/** Reference: `restic restore latest`. */
	async resticRestore(params): Promise<CaseOutcome> {
		const repo = text(params, 'repo');
		const run = await runExternal(
			'export RESTIC_PASSWORD="$3" RESTIC_REPOSITORY="$1" RESTIC_CACHE_DIR="$1.cache"; restic restore -q latest --target "$2"',
			[repo, text(params, 'outDir'), PASSPHRASE]
		);
		const { bytes, files } = await folderBytes(text(params, 'outDir'));
		return { bytes, files, seconds: run.seconds, ...(run.peakRssBytes === undefined ? {} : { externalPeakRssBytes: run.peakRssBytes }) };
	},

	/** `tar -c | gzip -9 | openssl enc -aes-256-cbc -pbkdf2`: the usual one-liner. */
	async tarPipeline(params): Promise<CaseOutcome> {
		const source = text(params, 'source');
		const outFile = text(params, 'outFile');
		const run = await runExternal('tar -cf - -C "$1" . | gzip -9 | openssl enc -aes-256-cbc -pbkdf2 -pass "pass:$3" -out "$2"', [
			source,
			outFile,
			PASSPHRASE
		]);
		const { bytes, files } = await folderBytes(source);
		return {
			bytes,
			files,
			chunks: 1,
			storedBytes: (await stat(outFile)).size,
			seconds: run.seconds,
			...(run.peakRssBytes === undefined ? {} : { externalPeakRssBytes: run.peakRssBytes })
		};
	}
} satisfies BenchSuite['cases'];

const CORPORA: readonly CorpusSpec[] = [
	{ name: 'random-256m', kind: 'random', files: 1, bytes: 256 * MiB, seed: 'dos-bench-random-256m' },
	{ name: 'random-1g', kind: 'random', files: 4, bytes: GiB, seed: 'dos-bench-random-1g' },
	{ name: 'text-256m', kind: 'text', files: 1, bytes: 256 * MiB, seed: 'dos-bench-text-256m' },
	{ name: 'text-1g', kind: 'text', files: 4, bytes: GiB, seed: 'dos-bench-text-1g' },
	{ name: 'small-20k', kind: 'small-files', files: 20_000, maxFileBytes: 64 * 1024, seed: 'dos-bench-small-20k' }
];

/** The corpora of the format 2 part: the generated ones, plus a copy of the project's own node_modules. */
const FORMAT2_CORPORA = ['text-1g', 'random-1g', 'small-20k', 'source-tree'] as const;
/** The fast codec of the format 2 targets (zstd-3 when this build has zstd; DOS_BENCH_FAST_CODEC overrides). */
const FAST_CODEC = process.env.DOS_BENCH_FAST_CODEC ?? 'zstd-3';
/** Runs of the format 2 cases whose median is kept (restores, unchanged slices; see `takeMedian`). */
const REPEATS = 3;

async function treeBytes(dir: string): Promise<number> {
	let bytes = 0;
	for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
		if (entry.isFile()) bytes += (await stat(path.join(entry.parentPath, entry.name))).size;
	}
	return bytes;
}

/** Edits 1 % of a corpus's files (at least one) in place, deterministically: 64 bytes overwritten mid-file. */
async function editOnePercent(dir: string): Promise<number> {
	const files: string[] = [];
	for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
		if (entry.isFile()) files.push(path.join(entry.parentPath, entry.name));
	files.sort();
	const every = Math.max(1, Math.floor(files.length / Math.max(1, Math.round(files.length / 100))));
	let edited = 0;
	for (let index = 0; index < files.length && edited < Math.max(1, Math.round(files.length / 100)); index += every) {
		const handle = await open(files[index]!, 'r+');
		try {
			const { size } = await handle.stat();
			await handle.write(
				Buffer.from(`edited ${index} `.padEnd(64, '#')).subarray(0, Math.max(1, Math.min(64, size))),
				0,
				Math.max(1, Math.min(64, size)),
				Math.floor(size / 2)
			);
		} finally {
			await handle.close();
		}
		edited++;
	}
	return edited;
}

/** Whether restic is here; when not, one attempt to install it from the Debian packages. */
function ensureRestic(log: (message: string) => void): boolean {
	const has = () => {
		try {
			execFileSync('restic', ['version'], { stdio: 'ignore' });
			return true;
		} catch {
			return false;
		}
	};
	if (has()) return true;
	log('restic is missing: trying apt-get install -y restic');
	try {
		execFileSync('apt-get', ['install', '-y', 'restic'], { stdio: 'ignore' });
	} catch {
		return false;
	}
	return has();
}

async function runFormat2(
	context: SuiteContext,
	corpusDir: (name: string) => string,
	output: (name: string) => string,
	measure: (spec: Parameters<SuiteContext['runCase']>[0]) => Promise<CaseResult>,
	record: (result: CaseResult) => void,
	cores: number
): Promise<{ corpora: CorpusInfo[]; targets: TargetCheck[]; notes: string[]; results: CaseResult[] }> {
	const results: CaseResult[] = [];
	const take = async (spec: Parameters<SuiteContext['runCase']>[0]) => {
		const result = await measure(spec);
		results.push(result);
		return result;
	};
	/**
	 * A case whose time moves most between identical runs, run {@link REPEATS} times (`specFor(attempt)`) and the run of
	 * median time kept, the others named in its note. Restores go to a fresh folder per run and nothing is deleted
	 * between runs: on this VM, creating 20,000 files took 0.9 s on a quiet file system and 3–10 s (all of it system
	 * time, for restic as for us) in the seconds after 20,000 files were deleted.
	 */
	const takeMedian = async (specFor: (attempt: number) => Parameters<SuiteContext['runCase']>[0]) => {
		const runs: CaseResult[] = [];
		for (let attempt = 0; attempt < REPEATS; attempt++) runs.push(await context.runCase(specFor(attempt)));
		// The upper median of the runs that succeeded; the case fails when any run failed, and its peak RSS and PBKDF2 count
		// are the largest of all runs (the memory and key targets hold for every run, not only the one kept).
		const ok = runs.filter((run) => run.ok).sort((a, b) => a.seconds - b.seconds);
		const kept = ok[Math.floor(ok.length / 2)] ?? runs[0]!;
		const times = runs.map((run) => (run.ok ? `${run.seconds.toFixed(2)} s` : `failed: ${run.error ?? 'no reason'}`)).join(', ');
		const result: CaseResult = {
			...kept,
			ok: runs.every((run) => run.ok),
			peakRssBytes: Math.max(...runs.map((run) => run.peakRssBytes)),
			kdfDerivations: Math.max(...runs.map((run) => run.kdfDerivations)),
			note: `${kept.note === undefined ? '' : `${kept.note}; `}median of ${REPEATS} runs (${times})`
		};
		record(result);
		results.push(result);
		return result;
	};
	/** The folders `takeMedian` restored into (`<base>-<attempt>`), removed. */
	const removeRuns = async (base: string) => {
		for (let attempt = 0; attempt < REPEATS; attempt++) await rm(`${base}-${attempt}`, { recursive: true, force: true });
	};
	const byId = (id: string) => results.find((entry) => entry.id === id);
	const corpora: CorpusInfo[] = [];
	// The source tree: a copy of the project's own node_modules (real text, source and a few binaries).
	const sourceTree = corpusDir('source-tree');
	await rm(sourceTree, { recursive: true, force: true });
	await mkdir(sourceTree, { recursive: true });
	const modules = await realpath(path.join(process.cwd(), 'node_modules'));
	execFileSync('cp', ['-a', modules, path.join(sourceTree, 'node_modules')]);
	const tree = await folderBytes(sourceTree);
	corpora.push({
		name: 'source-tree',
		description: `a copy of the project's node_modules: ${tree.files.toLocaleString('en-US')} files`,
		files: tree.files,
		bytes: tree.bytes,
		seed: 'node_modules'
	});

	const core = (await import(distEntryUrl('core'))) as typeof Core;
	let fastCodec = FAST_CODEC;
	try {
		core.parseCodec(fastCodec);
		// A codec this build cannot run fails on the first blob; probe it once.
		const probe = await mkdir(output('codec-probe'), { recursive: true }).then(() => output('codec-probe'));
		const { writeFile } = await import('node:fs/promises');
		await mkdir(path.join(probe, 'src'), { recursive: true });
		await writeFile(path.join(probe, 'src', 'a'), 'probe '.repeat(100));
		const pool = core.createCryptoPool({ workers: 1 });
		try {
			await core.sliceToRepository({
				source: path.join(probe, 'src'),
				repo: path.join(probe, 'repo'),
				passphrase: PASSPHRASE,
				pool,
				codec: core.parseCodec(fastCodec),
				packSize: core.DEFAULT_PACK_SIZE,
				dedup: 'repository',
				tool: 'bench'
			});
		} finally {
			await pool.close();
			await rm(probe, { recursive: true, force: true });
		}
	} catch {
		context.log(`${fastCodec} is not available in this build: the fast-codec cases use gzip-1`);
		fastCodec = 'gzip-1';
	}
	const restic = ensureRestic(context.log);
	const notes: string[] = [
		`Format 2 cases: ${cores} workers, default pack size (9.5 MiB), dedup across the repository. "first" slices into a new repository; "unchanged" slices the same corpus again into it; "1 % edited" after overwriting 64 bytes in the middle of 1 % of the files (at least one). The stored column of a slice is what that run added.`,
		`Restores (format 2 assembles and restic's restores) and unchanged second slices run ${REPEATS} times and keep the run of median time (each case's note lists all); each restore goes to a fresh folder, none deleted before the three are done. On this VM, creating 20,000 files takes 0.9 s on a quiet file system and 3–10 s, nearly all of it system time, for restic as for us, in the seconds after 20,000 files were deleted; restores of many files move with that. Every case starts after a \`sync\`.`,
		`The fast codec of the targets is ${fastCodec}${fastCodec === FAST_CODEC ? '' : ` (${FAST_CODEC} is not available in this build, so ${fastCodec} stands in for it)`}; the default is gzip-9.`,
		restic
			? `restic (${execFileSync('restic', ['version']).toString().trim()}) is the reference: \`restic backup\` into a fresh local repository (init not timed) and \`restic restore latest\`; its stored size is its data/ folder.`
			: 'restic is not installed and could not be installed (apt-get install -y restic): the restic reference and the targets against it are missing from this run.'
	];
	const targets: TargetCheck[] = [];
	for (const corpus of FORMAT2_CORPORA) {
		const source = corpusDir(corpus);
		for (const codec of ['gzip-9', fastCodec]) {
			const repo = await fresh(output(`repo-${corpus}`));
			await rm(repo, { recursive: true, force: true });
			const first = await take({
				id: `slice2/${corpus}/${codec}`,
				kind: 'repoSlice',
				label: `format 2 slice, ${codec}, first`,
				corpus,
				workers: cores,
				params: { source, repo, codec, workers: cores }
			});
			if (codec === 'gzip-9') {
				const unchanged = await takeMedian(() => ({
					id: `slice2-unchanged/${corpus}/${codec}`,
					kind: 'repoSlice',
					label: `format 2 slice, ${codec}, unchanged second run`,
					corpus,
					workers: cores,
					params: { source, repo, codec, workers: cores }
				}));
				const edited = await editOnePercent(source);
				const changed = await take({
					id: `slice2-edited/${corpus}/${codec}`,
					kind: 'repoSlice',
					label: `format 2 slice, ${codec}, ${edited} file${edited === 1 ? '' : 's'} (1 %) edited`,
					corpus,
					workers: cores,
					params: { source, repo, codec, workers: cores }
				});
				const newShare = (result: CaseResult | undefined) =>
					Number(/\(([\d.]+) % of the corpus\)/.exec(result?.note ?? '')?.[1] ?? Number.NaN);
				targets.push(
					{
						id: `unchanged-stored-${corpus}`,
						description: `unchanged second run stores < 0.5 % anew (${corpus})`,
						measured: `${newShare(unchanged).toFixed(3)} %`,
						threshold: '< 0.5 %',
						pass: newShare(unchanged) < 0.5
					},
					{
						id: `unchanged-speed-${corpus}`,
						description: `unchanged second run ≥ 5× faster than the first (${corpus})`,
						measured: unchanged?.ok && first.ok ? `${(first.seconds / unchanged.seconds).toFixed(1)}×` : 'missing',
						threshold: '≥ 5×',
						pass: unchanged?.ok && first.ok && first.seconds / unchanged.seconds >= 5
					},
					{
						id: `edited-stored-${corpus}`,
						description: `1 % of files edited stores ≤ 3 % anew (${corpus})`,
						measured: `${newShare(changed).toFixed(3)} %`,
						threshold: '≤ 3 %',
						pass: newShare(changed) <= 3
					}
				);
				const stored = first.storedBytes ?? 0;
				const limit = Math.ceil(stored / 9_961_472) * 1.02 + 1;
				targets.push({
					id: `packs-${corpus}`,
					description: `packs ≤ ⌈stored / pack size⌉ × 1.02 + 1 (${corpus}, gzip-9)`,
					measured: `${first.chunks ?? 'missing'}`,
					threshold: `≤ ${limit.toFixed(2)}`,
					pass: first.ok && (first.chunks ?? Number.POSITIVE_INFINITY) <= limit
				});
			}
			const restored = output(`restored2-${corpus}`);
			await removeRuns(restored);
			await takeMedian((attempt) => ({
				id: `assemble2/${corpus}/${codec}`,
				kind: 'repoAssemble',
				label: `format 2 assemble, ${codec}`,
				corpus,
				workers: cores,
				params: { repo, outDir: `${restored}-${attempt}`, workers: cores }
			}));
			await removeRuns(restored);
			await rm(repo, { recursive: true, force: true });
		}
		if (restic) {
			const repo = output(`restic-${corpus}`);
			await rm(repo, { recursive: true, force: true });
			await rm(`${repo}.cache`, { recursive: true, force: true });
			await take({ id: `restic-backup/${corpus}`, kind: 'resticBackup', label: 'restic backup (reference)', corpus, params: { source, repo } });
			const restored = output(`restic-restored-${corpus}`);
			await removeRuns(restored);
			await takeMedian((attempt) => ({
				id: `restic-restore/${corpus}`,
				kind: 'resticRestore',
				label: 'restic restore (reference)',
				corpus,
				params: { repo, outDir: `${restored}-${attempt}` }
			}));
			await removeRuns(restored);
			await rm(repo, { recursive: true, force: true });
			await rm(`${repo}.cache`, { recursive: true, force: true });
		}
	}
	for (const corpus of FORMAT2_CORPORA) {
		const factor = corpus === 'random-1g' ? 3 : 1.5;
		for (const codec of [fastCodec, 'gzip-9']) {
			targets.push(
				throughputRatioTarget(
					`slice2-vs-restic-${corpus}-${codec}`,
					`format 2 slice (${codec}) ≥ ${factor}× restic backup (${corpus})${codec === 'gzip-9' ? ' — reported' : ''}`,
					byId(`slice2/${corpus}/${codec}`),
					byId(`restic-backup/${corpus}`),
					factor
				),
				throughputRatioTarget(
					`assemble2-vs-restic-${corpus}-${codec}`,
					`format 2 assemble (${codec}) ≥ 1.5× restic restore (${corpus})${codec === 'gzip-9' ? ' — reported' : ''}`,
					byId(`assemble2/${corpus}/${codec}`),
					byId(`restic-restore/${corpus}`),
					1.5
				)
			);
		}
		const ours = byId(`slice2/${corpus}/gzip-9`);
		const theirs = byId(`restic-backup/${corpus}`);
		if (ours?.storedBytes !== undefined && theirs?.storedBytes !== undefined)
			notes.push(
				`${corpus}: stored ${(ours.storedBytes / 1e6).toFixed(1)} MB at gzip-9 vs restic's ${(theirs.storedBytes / 1e6).toFixed(1)} MB.`
			);
	}
	const ours = results.filter((entry) => entry.kind === 'repoSlice' || entry.kind === 'repoAssemble');
	targets.push(
		peakRssTarget('rss-format2', 'peak RSS of every format 2 slice and assemble', ours, 300e6),
		derivationTarget('one-kdf-format2', 'PBKDF2 derivations per format 2 slice and assemble (counted on dos:kdf)', ours, 1)
	);
	return { corpora, targets, notes, results };
}

async function run(context: SuiteContext): Promise<{ corpora: CorpusInfo[]; cases: CaseResult[]; targets: TargetCheck[]; notes: string[] }> {
	const { scratch, log } = context;
	const corpusDir = (name: string) => path.join(scratch, 'corpora', name);
	const output = (name: string) => path.join(scratch, 'out', name);
	const results: CaseResult[] = [];
	const byId = (id: string) => results.find((entry) => entry.id === id);
	const measure = async (spec: Parameters<SuiteContext['runCase']>[0]) => {
		const result = await context.runCase(spec);
		results.push(result);
		return result;
	};
	const remove = async (...dirs: string[]) => {
		for (const dir of dirs) await rm(dir, { recursive: true, force: true });
	};

	const onlyFormat2 = process.env.DOS_BENCH_CORE === 'format2';
	const corpora: CorpusInfo[] = [];
	for (const spec of CORPORA) {
		if (onlyFormat2 && !(FORMAT2_CORPORA as readonly string[]).includes(spec.name)) continue;
		const started = performance.now();
		corpora.push(await generateCorpus(corpusDir(spec.name), scaled(spec, context.scale)));
		log(`generated ${spec.name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
	}

	await measure({ id: 'baseline', kind: 'baseline', label: 'harness footprint (no work)', params: {} });
	const cores = Math.max(2, os.availableParallelism());
	if (onlyFormat2) {
		const part = await runFormat2(context, corpusDir, output, measure, (result) => results.push(result), cores);
		return { corpora: [...corpora, ...part.corpora], cases: results, targets: part.targets, notes: part.notes };
	}

	// The yardstick first, on the corpus our incompressible slicing is compared with.
	await measure({
		id: 'openssl-ctr/random-1g',
		kind: 'opensslCtr',
		label: 'openssl enc -aes-256-ctr, one pass (yardstick, fastest of 3)',
		corpus: 'random-1g',
		params: { source: corpusDir('random-1g'), outDir: await fresh(output('openssl')) }
	});
	await remove(output('openssl'));

	// Our format: slicing with 1 worker and with all cores; the all-cores archive is kept to assemble.
	const plans: { corpus: string; slicingWorkers: number[]; assemblingWorkers: number[] }[] = [
		{ corpus: 'random-1g', slicingWorkers: [1, cores], assemblingWorkers: [1, cores] },
		{ corpus: 'random-256m', slicingWorkers: [cores], assemblingWorkers: [cores] },
		{ corpus: 'text-1g', slicingWorkers: [1, cores], assemblingWorkers: [1, cores] },
		{ corpus: 'text-256m', slicingWorkers: [cores], assemblingWorkers: [cores] },
		{ corpus: 'small-20k', slicingWorkers: [1, cores], assemblingWorkers: [1, cores] }
	];
	for (const plan of plans) {
		const staged = output(`staged-${plan.corpus}`);
		for (const workers of plan.slicingWorkers) {
			await remove(staged);
			await measure({
				id: `slice/${plan.corpus}/w${workers}`,
				kind: 'slice',
				label: `slice (format 1, gzip -9), ${workers} worker${workers > 1 ? 's' : ''}`,
				corpus: plan.corpus,
				workers,
				params: { source: corpusDir(plan.corpus), outDir: staged, workers }
			});
		}
		for (const workers of plan.assemblingWorkers) {
			const restored = output(`restored-${plan.corpus}`);
			await measure({
				id: `assemble/${plan.corpus}/w${workers}`,
				kind: 'assemble',
				label: `assemble (format 1), ${workers} worker${workers > 1 ? 's' : ''}`,
				corpus: plan.corpus,
				workers,
				params: { staged, outDir: restored, workers }
			});
			await remove(restored);
		}
		await remove(staged);
	}

	// The original tool's scheme, and our legacy reader on its output.
	for (const corpus of ['random-1g', 'text-1g', 'small-20k']) {
		const legacy = output(`legacy-${corpus}`);
		const sample: CaseParams = corpus === 'small-20k' ? { limitFiles: Math.max(10, Math.round(LEGACY_SMALL_SAMPLE * context.scale)) } : {};
		await measure({
			id: `legacy-slice/${corpus}`,
			kind: 'legacySlice',
			label: 'original scheme: per file, 9.5 MiB slices, gzip -9, PBKDF2 600k per chunk, 1 thread',
			corpus,
			params: { source: corpusDir(corpus), outDir: await fresh(legacy), ...sample }
		});
		if (corpus === 'text-1g') {
			await measure({
				id: `legacy-restore/${corpus}`,
				kind: 'legacyRestore',
				label: 'our legacy reader restoring that archive (PBKDF2 per chunk, 2 at a time)',
				corpus,
				params: { dir: legacy, outDir: output('legacy-restored') }
			});
			await remove(output('legacy-restored'));
		}
		await remove(legacy);
	}

	for (const corpus of ['random-1g', 'text-1g', 'small-20k']) {
		const outFile = path.join(await fresh(output('tar')), 'archive.tar.gz.enc');
		await measure({
			id: `tar-pipeline/${corpus}`,
			kind: 'tarPipeline',
			label: 'tar | gzip -9 | openssl enc -aes-256-cbc -pbkdf2',
			corpus,
			params: { source: corpusDir(corpus), outFile }
		});
		await remove(output('tar'));
	}

	// Format 2 last: it edits 1 % of the corpora's files.
	const format2 = await runFormat2(context, corpusDir, output, measure, (result) => results.push(result), cores);
	corpora.push(...format2.corpora);

	const chunkSize = 9_961_472;
	const oneGiBCases = results.filter((entry) => (entry.kind === 'slice' || entry.kind === 'assemble') && entry.corpus?.endsWith('-1g'));
	const ours = results.filter((entry) => entry.kind === 'slice' || entry.kind === 'assemble');
	const targets: TargetCheck[] = [
		throughputRatioTarget(
			'ctr-half',
			`incompressible slicing (random-1g, ${cores} workers) ≥ 0.5 × one openssl aes-256-ctr pass`,
			byId(`slice/random-1g/w${cores}`),
			byId('openssl-ctr/random-1g'),
			0.5
		),
		throughputRatioTarget(
			'gzip-scaling',
			`compressible slicing at gzip -9 (text-1g): ${cores} workers ≥ 1.7 × 1 worker`,
			byId(`slice/text-1g/w${cores}`),
			byId('slice/text-1g/w1'),
			1.7
		),
		peakRssTarget('rss-1g', 'peak RSS of every slice and assemble run on a 1 GiB corpus', oneGiBCases, 300e6),
		...(['slice', 'assemble'] as const).flatMap((kind) =>
			(['random', 'text'] as const).map((corpus) =>
				rssGrowthTarget(
					`rss-flat-${kind}-${corpus}`,
					`${kind} peak RSS does not grow with input: ${corpus}-1g vs ${corpus}-256m (${cores} workers)`,
					byId(`${kind}/${corpus}-256m/w${cores}`),
					byId(`${kind}/${corpus}-1g/w${cores}`),
					1.15,
					24e6
				)
			)
		),
		chunkCountTarget('small-files-chunks', '20,000 small files share chunks (chunk count)', byId(`slice/small-20k/w${cores}`), chunkSize),
		derivationTarget('one-kdf', 'PBKDF2 derivations per archive, slicing and assembling (counted on dos:kdf)', ours, 1),
		...format2.targets
	];

	const notes = [
		'Corpora are generated once per run (seeded, deterministic) into a temporary folder and removed at the end; they sit in the page cache, so reads are mostly from memory for every case alike.',
		`Our format uses the default chunk size (${chunkSize.toLocaleString('en-US')} B) and gzip -9, storing a chunk raw when a deflate -1 probe shows it would not shrink.`,
		`The original's scheme runs one chunk at a time, as the Python tool did; on small-20k only the first ${LEGACY_SMALL_SAMPLE} files are run (each costs a PBKDF2 of 600,000 iterations) and the note projects the whole corpus. It slices files of ${ORIGINAL_SLICE_SIZE.toLocaleString('en-US')} B.`,
		'The yardstick and the tar pipeline write their output into the same scratch folder as our chunks; their peak RSS is that of their largest process (GNU time %M).',
		'Peak RSS of our cases includes the harness footprint (Node and the engine modules; each case runs as compiled JavaScript, without a TypeScript loader): see the baseline row.',
		"Why incompressible slicing stays near a quarter of openssl on 2 cores: per byte the format needs three sha256 passes (each file's hash for the manifest, each chunk's plaintext hash that resume checks the source against, and the sealed bytes' hash for the opaque names and key-less checks) plus AES-256-GCM, where openssl does one AES-CTR pass. sha256 runs at about 1.4 GB/s per core here (SHA-NI), so the hashing alone is ≈ 2.2 s of CPU per GiB, about what the whole openssl pass costs, and writing 1 GiB of chunks adds 0.3–2 s of kernel time on this VM; with both cores busy that caps slicing near 300–480 MB/s (480 without writing output). Meeting 0.5× would mean dropping a hash the design requires.",
		'This machine is shared with other running work (see the load average above); rerun `npm run bench -- core` for fresh figures.',
		...format2.notes
	];
	return { corpora, cases: results, targets, notes };
}

/** A corpus shrunk for a trial run (names stay, so the case ids do too). */
function scaled(spec: CorpusSpec, scale: number): CorpusSpec {
	if (scale === 1) return spec;
	if (spec.kind === 'small-files') return { ...spec, files: Math.max(50, Math.round(spec.files * scale)) };
	return { ...spec, bytes: Math.max(spec.files * 1024, Math.round(spec.bytes * scale)) };
}

async function fresh(dir: string): Promise<string> {
	await rm(dir, { recursive: true, force: true });
	await mkdir(dir, { recursive: true });
	return dir;
}

export const suite: BenchSuite = {
	name: 'core',
	description: 'slicing and assembling throughput and peak RSS of the engine, with the original scheme and tar/openssl as references',
	cases,
	run
};
