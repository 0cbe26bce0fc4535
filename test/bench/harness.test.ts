import { existsSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SeededRandom, TextGenerator, formatSize } from '../../bench/harness/corpus.js';
import { renderResults } from '../../bench/harness/results.js';
import { selectSuites } from '../../bench/harness/selection.js';
import type { CaseResult, SuiteResultFile } from '../../bench/harness/suite.js';
import { chunkCountTarget, derivationTarget, peakRssTarget, rssGrowthTarget, throughputRatioTarget } from '../../bench/harness/targets.js';

function measured(id: string, overrides: Partial<CaseResult> = {}): CaseResult {
	return {
		id,
		kind: 'slice',
		label: id,
		params: {},
		ok: true,
		bytes: 1e9,
		seconds: 10,
		mbPerSecond: 100,
		peakRssBytes: 150e6,
		rssScope: 'process',
		kdfDerivations: 1,
		...overrides
	};
}

describe('bench targets', () => {
	it('GIVEN throughputs on both sides of the factor WHEN checked THEN PASS at or above it and FAIL below', () => {
		const yardstick = measured('openssl', { mbPerSecond: 1000 });
		expect(throughputRatioTarget('t', 'd', measured('a', { mbPerSecond: 500 }), yardstick, 0.5)).toMatchObject({
			pass: true,
			measured: expect.stringContaining('0.50×')
		});
		expect(throughputRatioTarget('t', 'd', measured('a', { mbPerSecond: 499 }), yardstick, 0.5).pass).toBe(false);
	});

	it('GIVEN a failed or missing case WHEN a target depends on it THEN it fails and says why', () => {
		const broken = measured('slice/x', { ok: false, error: 'CoreError: boom' });
		expect(throughputRatioTarget('t', 'd', broken, measured('b'), 0.5)).toMatchObject({ pass: false, measured: expect.stringContaining('boom') });
		expect(throughputRatioTarget('t', 'd', undefined, measured('b'), 0.5)).toMatchObject({ pass: false, measured: 'case missing' });
		expect(peakRssTarget('t', 'd', [measured('a'), undefined], 300e6).pass).toBe(false);
		expect(derivationTarget('t', 'd', [], 1).pass).toBe(true);
	});

	it('GIVEN peak RSS figures WHEN checked against the limit THEN the worst case decides', () => {
		const check = peakRssTarget('t', 'd', [measured('a', { peakRssBytes: 120e6 }), measured('b', { peakRssBytes: 310e6 })], 300e6);
		expect(check).toMatchObject({ pass: false, measured: expect.stringContaining('(b)') });
		expect(peakRssTarget('t', 'd', [measured('a', { peakRssBytes: 299e6 })], 300e6).pass).toBe(true);
	});

	it('GIVEN RSS of a small and a 4× larger input WHEN growth is checked THEN flat passes and proportional growth fails', () => {
		const small = measured('small', { peakRssBytes: 160e6 });
		expect(rssGrowthTarget('t', 'd', small, measured('large', { peakRssBytes: 190e6 }), 1.15, 24e6).pass).toBe(true);
		expect(rssGrowthTarget('t', 'd', small, measured('large', { peakRssBytes: 640e6 }), 1.15, 24e6).pass).toBe(false);
	});

	it('GIVEN chunk counts around ⌈total/chunk⌉ + 1 WHEN checked THEN the bound is inclusive', () => {
		const chunk = 9_961_472;
		const bytes = 3 * chunk + 1;
		expect(chunkCountTarget('t', 'd', measured('s', { bytes, chunks: 5, files: 20_000 }), chunk)).toMatchObject({ pass: true, threshold: '≤ 5' });
		expect(chunkCountTarget('t', 'd', measured('s', { bytes, chunks: 6, files: 20_000 }), chunk).pass).toBe(false);
		expect(chunkCountTarget('t', 'd', measured('s', { bytes, files: 20_000 }), chunk).pass).toBe(false);
	});

	it('GIVEN derivation counts WHEN one run derived twice THEN the target fails naming it', () => {
		const check = derivationTarget('t', 'd', [measured('a'), measured('b', { kdfDerivations: 2 })], 1);
		expect(check).toMatchObject({ pass: false, measured: 'b: 2' });
	});
});

describe('bench results', () => {
	const file: SuiteResultFile = {
		suite: 'core',
		description: 'engine',
		date: '2026-01-01T00:00:00.000Z',
		node: 'v20.0.0',
		machine: { cpu: 'CPU', cores: 2, memoryBytes: 2 ** 34, platform: 'linux', arch: 'x64', release: '6', loadAverage: 1.5 },
		durationSeconds: 90,
		corpora: [{ name: 'text-1g', description: 'text', files: 4, bytes: 2 ** 30, seed: 's' }],
		cases: [
			measured('slice/text-1g/w2', { label: 'slice | 2 workers', chunks: 108, storedBytes: 3e8, note: 'note' }),
			measured('tar', { rssScope: 'external', peakRssBytes: 6e6 }),
			measured('broken', { ok: false, error: 'Error: it broke' })
		],
		targets: [
			{ id: 'a', description: 'first', measured: '1', threshold: '≥ 1', pass: true },
			{ id: 'b', description: 'second', measured: '0', threshold: '≥ 1', pass: false }
		],
		notes: ['shared machine']
	};

	it('GIVEN a suite result WHEN rendered THEN the markdown has PASS/FAIL rows, escaped cells, failures and notes', () => {
		const markdown = renderResults([file]);
		expect(markdown).toContain('| PASS | first | 1 | ≥ 1 |');
		expect(markdown).toContain('| FAIL | second | 0 | ≥ 1 |');
		expect(markdown).toContain('| slice/text-1g/w2 | slice \\| 2 workers | 100.0 | 10.00 | 150 | 108 | 300.0 | 1 | note |');
		expect(markdown).toContain('| tar | tar | 100.0 | 10.00 | 6 ¹ |');
		expect(markdown).toContain('FAILED: Error: it broke');
		expect(markdown).toContain('- shared machine');
		expect(markdown).toContain('| text-1g | 4 | 1,073.7 | text | s |');
		for (const line of markdown.split('\n').filter((row) => row.startsWith('| slice/') || row.startsWith('| broken'))) {
			expect(line.split(/(?<!\\)\|/).length - 2, line).toBe(9);
		}
	});

	it('GIVEN a run that started with more load than cores WHEN rendered THEN it is flagged as contended; a quiet one is not', () => {
		expect(renderResults([{ ...file, machine: { ...file.machine, loadAverage: 6.2 } }])).toContain(
			'**Contended run:** the load average was 6.2 on 2 cores'
		);
		expect(renderResults([file])).not.toContain('Contended run');
	});

	it('GIVEN several suites WHEN rendered THEN they appear by name', () => {
		const markdown = renderResults([{ ...file, suite: 'emulator' }, file]);
		expect(markdown.indexOf('## core')).toBeLessThan(markdown.indexOf('## emulator'));
	});
});

describe('bench suite selection', () => {
	it('GIVEN no names WHEN selecting THEN every suite runs; GIVEN names THEN those; GIVEN an unknown one THEN an error lists the known', () => {
		expect(selectSuites([], ['core', 'emulator'])).toEqual({ suites: ['core', 'emulator'] });
		expect(selectSuites(['core', 'core'], ['core', 'emulator'])).toEqual({ suites: ['core'] });
		expect(selectSuites(['nope'], ['core'])).toEqual({ error: 'Unknown suite(s): nope. Known suites: core.' });
	});
});

describe('bench corpora', () => {
	it('GIVEN the same seed WHEN generating THEN the same bytes; another seed THEN others', () => {
		const a = new SeededRandom('seed');
		const b = new SeededRandom('seed');
		const sequence = Array.from({ length: 5 }, () => a.next());
		expect(Array.from({ length: 5 }, () => b.next())).toEqual(sequence);
		expect(new SeededRandom('other').next()).not.toBe(sequence[0]);
		expect(new TextGenerator('t').block(10_000)).toEqual(new TextGenerator('t').block(10_000));
	});

	it('GIVEN generated text WHEN gzipped THEN it compresses like text, not like a repeated byte', () => {
		const sample = new TextGenerator('t').block(1 << 20);
		const ratio = sample.length / gzipSync(sample, { level: 6 }).length;
		expect(ratio).toBeGreaterThan(2);
		expect(ratio).toBeLessThan(10);
		expect(new Set(sample.subarray(0, 4096)).size).toBeGreaterThan(30);
	});

	it('GIVEN sizes WHEN formatted THEN binary units', () => {
		expect(formatSize(1024 ** 3)).toBe('1 GiB');
		expect(formatSize(256 * 1024 ** 2)).toBe('256 MiB');
		expect(formatSize(1536)).toBe('1.5 KiB');
		expect(formatSize(12)).toBe('12 B');
	});
});

describe('bench paths', () => {
	it('GIVEN the bench run as TypeScript WHEN it locates the repository THEN it finds package.json and the built layers under it', async () => {
		const { REPO_ROOT, MODULE_EXTENSION, distEntry, COMPILED_CASE_CHILD } = await import('../../bench/harness/paths.js');
		expect(existsSync(path.join(REPO_ROOT, 'package.json'))).toBe(true);
		expect(existsSync(path.join(REPO_ROOT, 'bench', 'harness', 'paths.ts'))).toBe(true);
		expect(MODULE_EXTENSION).toBe('.ts');
		expect(distEntry('core')).toBe(path.join(REPO_ROOT, 'dist', 'core', 'index.js'));
		expect(COMPILED_CASE_CHILD.startsWith(path.join(REPO_ROOT, 'bench', '.build'))).toBe(true);
	});
});
