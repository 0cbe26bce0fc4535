/**
 * `npm run bench [-- <suite>...]`: runs the benchmark suites in `bench/suites/` (all by default), each case in
 * its own child process, and writes `bench/results/<suite>.json` and `bench/results/RESULTS.md`.
 * `npm run bench -- --render` only regenerates RESULTS.md from the JSON files.
 *
 * The engine is measured as built (`dist/`, compiled by `npm run build` first), so worker threads run plain
 * JavaScript as in production. This runner runs through tsx; each measured case runs in a plain Node process on the
 * bench compiled by `tsc -p tsconfig.bench.json` (into bench/.build/), so no TypeScript loader inflates its RSS.
 */
import { access, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { machineInfo, renderResultsFile, saveResults } from './harness/results.js';
import { runCaseInChild } from './harness/run-case.js';
import { selectSuites } from './harness/selection.js';
import type { BenchSuite, SuiteContext } from './harness/suite.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.DOS_BENCH_SCALE ?? '1');
if (!(scale > 0 && scale <= 1)) {
	console.error(`DOS_BENCH_SCALE must be a number in (0, 1], not ${process.env.DOS_BENCH_SCALE}.`);
	process.exit(2);
}
// Scaled-down trial runs never overwrite the committed results.
const resultsDir = path.join(here, 'results', ...(scale === 1 ? [] : ['tmp']));

if (process.argv.includes('--render')) {
	// Only regenerate RESULTS.md from the JSON files (after a renderer change, or by hand-picked runs).
	console.error(`wrote ${path.relative(process.cwd(), await renderResultsFile(resultsDir))}`);
	process.exit(0);
}

const available = (await readdir(path.join(here, 'suites')))
	.filter((name) => name.endsWith('.ts'))
	.map((name) => name.slice(0, -3))
	.sort();
const selection = selectSuites(process.argv.slice(2), available);
if ('error' in selection) {
	console.error(selection.error);
	process.exit(2);
}

await access(path.join(here, '..', 'dist', 'core', 'index.js')).catch(() => {
	console.error('dist/ is missing: run `npm run build` first (`npm run bench` does).');
	process.exit(2);
});

await mkdir(resultsDir, { recursive: true });
let failed = false;
for (const name of selection.suites) {
	const { suite } = (await import(new URL(`./suites/${name}.ts`, import.meta.url).href)) as { suite: BenchSuite };
	const scratch = await mkdtemp(path.join(os.tmpdir(), `dos-bench-${name}-`));
	const machine = machineInfo();
	const started = performance.now();
	const log = (message: string) => {
		console.error(`[bench ${name} ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}`);
	};
	const context: SuiteContext = {
		scratch,
		scale,
		log,
		async runCase(spec) {
			log(`case ${spec.id}: ${spec.label}`);
			const result = await runCaseInChild(name, spec, scratch);
			log(
				result.ok
					? `  ${result.mbPerSecond.toFixed(1)} MB/s, ${result.seconds.toFixed(2)} s, peak RSS ${(result.peakRssBytes / 1e6).toFixed(0)} MB, PBKDF2 ×${result.kdfDerivations}`
					: `  FAILED: ${result.error}`
			);
			return result;
		}
	};
	try {
		log(`${suite.description} (scratch ${scratch}${scale === 1 ? '' : `, scale ${scale}`})`);
		const report = await suite.run(context);
		const file = await saveResults(resultsDir, {
			suite: suite.name,
			description: suite.description,
			date: new Date().toISOString(),
			node: process.version,
			machine,
			durationSeconds: Math.round((performance.now() - started) / 100) / 10,
			...report,
			notes: scale === 1 ? report.notes : [`Scaled-down trial run (DOS_BENCH_SCALE=${scale}): not representative.`, ...report.notes]
		});
		for (const target of report.targets) log(`${target.pass ? 'PASS' : 'FAIL'}  ${target.description}: ${target.measured} (${target.threshold})`);
		log(`results in ${path.relative(process.cwd(), file)}`);
		failed ||= report.targets.some((target) => !target.pass) || report.cases.some((entry) => !entry.ok);
	} finally {
		await rm(scratch, { recursive: true, force: true });
	}
}
// A missed target is reported, not fatal: timings on a shared machine are not a test.
if (failed) console.error('Some targets were missed or cases failed: see RESULTS.md.');
