import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CaseResult, MachineInfo, SuiteResultFile } from './suite.js';

/** The machine a run happens on. */
export function machineInfo(): MachineInfo {
	const cpus = os.cpus();
	return {
		cpu: cpus[0]?.model.trim() ?? 'unknown',
		cores: os.availableParallelism(),
		memoryBytes: os.totalmem(),
		platform: os.platform(),
		arch: os.arch(),
		release: os.release(),
		loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100
	};
}

const MB = 1e6;

function cell(text: string | number | undefined): string {
	if (text === undefined || text === '') return '';
	return String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function fixed(value: number, digits: number): string {
	return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function caseRow(entry: CaseResult): string {
	if (!entry.ok) return `| ${cell(entry.id)} | ${cell(entry.label)} | FAILED: ${cell(entry.error)} | | | | | | |`;
	const rss = `${fixed(entry.peakRssBytes / MB, 0)}${entry.rssScope === 'external' ? ' ¹' : ''}`;
	const stored = entry.storedBytes === undefined ? '' : fixed(entry.storedBytes / MB, 1);
	return [
		'',
		cell(entry.id),
		cell(entry.label),
		fixed(entry.mbPerSecond, entry.mbPerSecond > 0 && entry.mbPerSecond < 1 ? 3 : 1),
		fixed(entry.seconds, 2),
		rss,
		cell(entry.chunks),
		stored,
		cell(entry.kdfDerivations),
		cell(entry.note),
		''
	]
		.join(' | ')
		.trim();
}

/** Renders one suite's results as markdown (a section of RESULTS.md). */
export function renderSuite(result: SuiteResultFile): string {
	const { machine } = result;
	const lines: string[] = [];
	lines.push(`## ${result.suite}: ${result.description}`, '');
	lines.push(
		`Run ${result.date} in ${fixed(result.durationSeconds / 60, 1)} min · Node ${result.node} · ${machine.cpu}, ${machine.cores} cores, ${fixed(machine.memoryBytes / 2 ** 30, 1)} GiB RAM · ${machine.platform} ${machine.arch} ${machine.release} · load average at start ${machine.loadAverage}`,
		''
	);
	if (machine.loadAverage > machine.cores) {
		lines.push(
			`> **Contended run:** the load average was ${machine.loadAverage} on ${machine.cores} cores when it started, so other work competed for the CPU throughout; speeds, and above all the scaling with workers, are understated. Rerun \`npm run bench -- ${result.suite}\` on a quiet machine before drawing conclusions.`,
			''
		);
	}
	if (result.targets.length > 0) {
		lines.push('### Targets', '', '| result | target | measured | threshold |', '| --- | --- | --- | --- |');
		for (const target of result.targets) {
			lines.push(`| ${target.pass ? 'PASS' : 'FAIL'} | ${cell(target.description)} | ${cell(target.measured)} | ${cell(target.threshold)} |`);
		}
		lines.push('');
	}
	lines.push(
		'### Cases',
		'',
		'| case | what | MB/s | seconds | peak RSS (MB) | chunks | stored (MB) | PBKDF2 | note |',
		'| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |'
	);
	for (const entry of result.cases) lines.push(caseRow(entry));
	lines.push(
		'',
		'MB = 10⁶ bytes of input. Peak RSS is that of the process that ran the case (with its worker threads); ¹ marks an external command, where it is its largest process (GNU time).',
		''
	);
	if (result.corpora.length > 0) {
		lines.push('### Corpora', '', '| name | files | MB | what | seed |', '| --- | ---: | ---: | --- | --- |');
		for (const corpus of result.corpora) {
			lines.push(
				`| ${cell(corpus.name)} | ${corpus.files.toLocaleString('en-US')} | ${fixed(corpus.bytes / MB, 1)} | ${cell(corpus.description)} | ${cell(corpus.seed)} |`
			);
		}
		lines.push('');
	}
	if (result.notes.length > 0) {
		lines.push('### Notes', '');
		for (const note of result.notes) lines.push(`- ${note}`);
		lines.push('');
	}
	return lines.join('\n');
}

/** Renders RESULTS.md from every suite's results, suites by name. */
export function renderResults(results: readonly SuiteResultFile[]): string {
	const sorted = [...results].sort((a, b) => a.suite.localeCompare(b.suite));
	return [
		'# Benchmark results',
		'',
		'Written by `npm run bench` from the JSON files beside this one (`<suite>.json`); do not edit by hand.',
		'Each case runs in its own child process. The machine is shared with other work, so figures move between',
		'runs; compare the ratios in the targets rather than absolute speeds.',
		'',
		...sorted.map(renderSuite)
	].join('\n');
}

/** Writes `<suite>.json` and regenerates RESULTS.md from all JSON files in `dir`. */
export async function saveResults(dir: string, result: SuiteResultFile): Promise<string> {
	await writeFile(path.join(dir, `${result.suite}.json`), `${JSON.stringify(result, null, '\t')}\n`);
	return renderResultsFile(dir);
}

/** Regenerates RESULTS.md from all JSON files in `dir`; returns its path. */
export async function renderResultsFile(dir: string): Promise<string> {
	const all: SuiteResultFile[] = [];
	for (const name of (await readdir(dir)).filter((entry) => entry.endsWith('.json')).sort()) {
		all.push(JSON.parse(await readFile(path.join(dir, name), 'utf8')) as SuiteResultFile);
	}
	const markdown = renderResults(all);
	const file = path.join(dir, 'RESULTS.md');
	await writeFile(file, markdown);
	return file;
}
