import { spawn, spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ChildReport } from './case-child.js';
import { COMPILED_CASE_CHILD } from './paths.js';
import type { CaseParams, CaseResult } from './suite.js';

export interface CaseSpec {
	readonly id: string;
	readonly kind: string;
	readonly label: string;
	readonly corpus?: string;
	readonly workers?: number;
	readonly params: CaseParams;
}

/**
 * Runs one case of `suite` in a fresh plain Node process (the bench compiled to JavaScript: a TypeScript loader would
 * add its own thread and some 40 MB to every peak RSS measured) and turns its report
 * into a {@link CaseResult}. A case that throws or whose process dies yields `ok: false` with the reason.
 */
export async function runCaseInChild(suite: string, spec: CaseSpec, scratch: string): Promise<CaseResult> {
	const resultFile = path.join(scratch, `case-${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
	// What the cases before wrote or removed is flushed first, so that no case pays for the write-back of another's (best
	// effort: where there is no sync command the case runs all the same).
	spawnSync('sync');
	const exitCode = await new Promise<number | null>((resolve, reject) => {
		const child = spawn(process.execPath, ['--expose-gc', COMPILED_CASE_CHILD, suite, spec.kind, JSON.stringify(spec.params), resultFile], {
			stdio: ['ignore', 'inherit', 'inherit'],
			// As `npm start` runs the bot: glibc's malloc keeps at most two arenas instead of one per thread that allocates
			// (the main thread, each worker, libuv's pool), which would each hold freed memory as RSS.
			env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' }
		});
		child.on('error', reject);
		child.on('exit', (code) => {
			resolve(code);
		});
	});
	let report: ChildReport;
	try {
		report = JSON.parse(await readFile(resultFile, 'utf8')) as ChildReport;
	} catch {
		report = {
			ok: false,
			error: `the case process exited with code ${exitCode} without a report`,
			seconds: 0,
			maxRssBytes: 0,
			kdfDerivations: 0
		};
	} finally {
		await rm(resultFile, { force: true });
	}
	const outcome = report.outcome;
	const bytes = outcome?.bytes ?? 0;
	const external = outcome?.externalPeakRssBytes;
	return {
		id: spec.id,
		kind: spec.kind,
		label: spec.label,
		...(spec.corpus === undefined ? {} : { corpus: spec.corpus }),
		...(spec.workers === undefined ? {} : { workers: spec.workers }),
		params: spec.params,
		ok: report.ok,
		...(report.error === undefined ? {} : { error: report.error }),
		bytes,
		...(outcome?.files === undefined ? {} : { files: outcome.files }),
		...(outcome?.chunks === undefined ? {} : { chunks: outcome.chunks }),
		...(outcome?.storedBytes === undefined ? {} : { storedBytes: outcome.storedBytes }),
		seconds: report.seconds,
		mbPerSecond: report.ok && report.seconds > 0 ? bytes / 1e6 / report.seconds : 0,
		peakRssBytes: external ?? report.maxRssBytes,
		rssScope: external === undefined ? 'process' : 'external',
		kdfDerivations: report.kdfDerivations,
		...(outcome?.note === undefined ? {} : { note: outcome.note })
	};
}
