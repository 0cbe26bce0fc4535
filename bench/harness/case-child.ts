/**
 * Entry of the child process that runs one measured case:
 * `node bench/.build/bench/harness/case-child.js <suite> <kind> <params JSON> <result file>` (compiled by
 * `tsc -p tsconfig.bench.json`, so no TypeScript loader sits in the measured process).
 * It counts PBKDF2 derivations on `dos:kdf`, times the case and writes a JSON result file.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { MODULE_EXTENSION } from './paths.js';
import type { BenchSuite, CaseOutcome, CaseParams } from './suite.js';

export interface ChildReport {
	readonly ok: boolean;
	readonly error?: string;
	readonly outcome?: CaseOutcome;
	readonly seconds: number;
	readonly maxRssBytes: number;
	readonly kdfDerivations: number;
}

const [suiteName, kind, paramsJson, resultFile] = process.argv.slice(2);
if (suiteName === undefined || kind === undefined || paramsJson === undefined || resultFile === undefined) {
	throw new Error('usage: case-child.ts <suite> <kind> <params JSON> <result file>');
}

let kdfDerivations = 0;
subscribe('dos:kdf', () => {
	kdfDerivations++;
});

const { suite } = (await import(new URL(`../suites/${suiteName}${MODULE_EXTENSION}`, import.meta.url).href)) as { suite: BenchSuite };
const run = suite.cases[kind];
if (run === undefined) throw new Error(`Suite ${suiteName} has no case kind ${kind}.`);
const params = JSON.parse(paramsJson) as CaseParams;

let report: ChildReport;
const started = performance.now();
try {
	const outcome = await run(params);
	const seconds = outcome.seconds ?? (performance.now() - started) / 1000;
	report = { ok: true, outcome, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024, kdfDerivations };
} catch (error) {
	report = {
		ok: false,
		error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
		seconds: (performance.now() - started) / 1000,
		maxRssBytes: process.resourceUsage().maxRSS * 1024,
		kdfDerivations
	};
}
await writeFile(resultFile, JSON.stringify(report));
// Worker pools or timers a failed case left behind must not keep the child alive.
process.exit(0);
