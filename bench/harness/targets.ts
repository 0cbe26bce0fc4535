import type { CaseResult, TargetCheck } from './suite.js';

/**
 * Target checks: pure functions from measured cases to PASS/FAIL rows. A missing or failed case fails its target
 * and says why, so a broken case can never pass silently.
 */

const MB = 1e6;

function missing(id: string, description: string, threshold: string, cases: readonly (CaseResult | undefined)[]): TargetCheck | undefined {
	const absent = cases.find((entry) => entry === undefined || !entry.ok);
	if (cases.every((entry) => entry?.ok === true)) return undefined;
	const measured =
		absent === undefined ? 'case missing' : `case ${absent.id} failed${absent.error === undefined ? '' : `: ${absent.error.slice(0, 120)}`}`;
	return { id, description, measured, threshold, pass: false };
}

/** `value.mbPerSecond ≥ factor × reference.mbPerSecond`. */
export function throughputRatioTarget(
	id: string,
	description: string,
	value: CaseResult | undefined,
	reference: CaseResult | undefined,
	factor: number
): TargetCheck {
	const threshold = `≥ ${factor}×`;
	const absent = missing(id, description, threshold, [value, reference]);
	if (absent !== undefined || value === undefined || reference === undefined) return absent!;
	const ratio = reference.mbPerSecond > 0 ? value.mbPerSecond / reference.mbPerSecond : 0;
	return {
		id,
		description,
		measured: `${value.mbPerSecond.toFixed(1)} vs ${reference.mbPerSecond.toFixed(1)} MB/s = ${ratio.toFixed(2)}×`,
		threshold,
		pass: ratio >= factor
	};
}

/** Every case's peak RSS below `limitBytes`; reports the largest. */
export function peakRssTarget(id: string, description: string, cases: readonly (CaseResult | undefined)[], limitBytes: number): TargetCheck {
	const threshold = `< ${Math.round(limitBytes / MB)} MB`;
	const absent = missing(id, description, threshold, cases);
	if (absent !== undefined) return absent;
	const worst = (cases as CaseResult[]).reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a));
	return {
		id,
		description,
		measured: `max ${(worst.peakRssBytes / MB).toFixed(0)} MB (${worst.id})`,
		threshold,
		pass: worst.peakRssBytes < limitBytes
	};
}

/**
 * Peak RSS does not grow with input size: the large run's peak is within `factor` × the small run's plus
 * `slackBytes` (the allocator and page cache give a little noise, growth with size would be ×4).
 */
export function rssGrowthTarget(
	id: string,
	description: string,
	small: CaseResult | undefined,
	large: CaseResult | undefined,
	factor: number,
	slackBytes: number
): TargetCheck {
	const threshold = `≤ ${factor}× + ${Math.round(slackBytes / MB)} MB`;
	const absent = missing(id, description, threshold, [small, large]);
	if (absent !== undefined || small === undefined || large === undefined) return absent!;
	return {
		id,
		description,
		measured: `${(large.peakRssBytes / MB).toFixed(0)} MB vs ${(small.peakRssBytes / MB).toFixed(0)} MB (${(large.peakRssBytes / small.peakRssBytes).toFixed(2)}×)`,
		threshold,
		pass: large.peakRssBytes <= factor * small.peakRssBytes + slackBytes
	};
}

/** The chunk count of many small files: ≤ ⌈total / chunkSize⌉ + 1 (small files share chunks). */
export function chunkCountTarget(id: string, description: string, value: CaseResult | undefined, chunkSize: number): TargetCheck {
	const absent = missing(id, description, '≤ ⌈total/chunk⌉ + 1', [value]);
	if (absent !== undefined || value === undefined) return absent!;
	const limit = Math.ceil(value.bytes / chunkSize) + 1;
	return {
		id,
		description,
		measured: `${value.chunks ?? '?'} chunks for ${value.files ?? '?'} files (${(value.bytes / MB).toFixed(1)} MB)`,
		threshold: `≤ ${limit}`,
		pass: value.chunks !== undefined && value.chunks <= limit
	};
}

/** Exactly `expected` PBKDF2 derivations in each case. */
export function derivationTarget(id: string, description: string, cases: readonly (CaseResult | undefined)[], expected: number): TargetCheck {
	const threshold = `= ${expected} per archive`;
	const absent = missing(id, description, threshold, cases);
	if (absent !== undefined) return absent;
	const wrong = (cases as CaseResult[]).filter((entry) => entry.kdfDerivations !== expected);
	return {
		id,
		description,
		measured:
			wrong.length === 0
				? `${expected} in each of ${cases.length} runs`
				: wrong.map((entry) => `${entry.id}: ${entry.kdfDerivations}`).join(', '),
		threshold,
		pass: wrong.length === 0
	};
}
