import { describe, expect, it } from 'vitest';
import { backoffDelay, sleep, withBackoff } from '../../src/discord/backoff.js';
import { TransportErrorCode, isTransportError } from '../../src/discord/errors.js';

const policy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 250 };

describe('backoffDelay', () => {
	it('GIVEN no jitter WHEN tries follow each other THEN the delay doubles up to the maximum', () => {
		const middle = () => 0.5;
		expect([2, 3, 4, 5, 6].map((attempt) => backoffDelay(policy, attempt, middle))).toEqual([100, 200, 250, 250, 250]);
	});

	it('GIVEN extreme jitter WHEN the delay is drawn THEN it stays within ±25 %', () => {
		expect(backoffDelay(policy, 2, () => 0)).toBe(75);
		expect(backoffDelay(policy, 2, () => 1)).toBe(125);
	});
});

describe('withBackoff', () => {
	const fast = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

	it('GIVEN an operation that fails twice with a retryable error WHEN run with 3 tries THEN it succeeds on the third', async () => {
		const seen: number[] = [];
		const result = await withBackoff(
			fast,
			(attempt) => {
				seen.push(attempt);
				return attempt < 3 ? Promise.reject(new Error('transient')) : Promise.resolve('ok');
			},
			() => ({ retry: true })
		);
		expect(result).toBe('ok');
		expect(seen).toEqual([1, 2, 3]);
	});

	it('GIVEN an operation that always fails WHEN the tries are used up THEN the last error is thrown', async () => {
		let calls = 0;
		await expect(
			withBackoff(
				fast,
				(attempt) => {
					calls++;
					return Promise.reject(new Error(`failure ${attempt}`));
				},
				() => ({ retry: true })
			)
		).rejects.toThrow('failure 3');
		expect(calls).toBe(3);
	});

	it('GIVEN a final error WHEN decide says no THEN it is thrown at once', async () => {
		let calls = 0;
		await expect(
			withBackoff(
				fast,
				() => {
					calls++;
					return Promise.reject(new Error('final'));
				},
				() => ({ retry: false })
			)
		).rejects.toThrow('final');
		expect(calls).toBe(1);
	});

	it('GIVEN a long wait WHEN the signal aborts THEN sleep rejects with ABORTED', async () => {
		const controller = new AbortController();
		const pending = sleep(60_000, controller.signal);
		controller.abort();
		const error = await pending.catch((caught: unknown) => caught);
		expect(isTransportError(error, TransportErrorCode.Aborted)).toBe(true);
	});
});
