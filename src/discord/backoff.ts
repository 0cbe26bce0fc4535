import { abortedError } from './errors.js';

/**
 * How often and how patiently an operation is tried again. The delay before try `n` (1-based, after the
 * first failure) is `min(maxDelayMs, baseDelayMs · 2^(n−1))`, with ±25 % jitter so parallel jobs spread out.
 */
export interface BackoffPolicy {
	/** Tries in all, the first included (≥ 1). */
	readonly attempts: number;
	/** Delay before the second try, in milliseconds. */
	readonly baseDelayMs: number;
	/** Upper bound of any one delay, in milliseconds. */
	readonly maxDelayMs: number;
}

/** The delay before try `attempt` (2 = the first retry), jittered. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
	const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 2));
	const jitter = 0.75 + random() * 0.5;
	return Math.max(0, Math.round(exponential * jitter));
}

/**
 * Waits `ms` milliseconds, or rejects with an ABORTED {@link TransportError} as soon as `signal` aborts.
 *
 * @throws TransportError ABORTED when the signal aborts.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	if (signal?.aborted) throw abortedError(signal.reason);
	if (ms <= 0) return;
	await new Promise<void>((resolve, reject) => {
		const onAbort = () => {
			clearTimeout(timer);
			reject(abortedError(signal?.reason));
		};
		const timer = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}

/** What a retry loop is told about each failure, to decide whether to go on. */
export interface RetryDecision {
	/** Try again after the policy's delay. */
	readonly retry: boolean;
	/** Wait at least this long instead of the policy's delay (e.g. a Retry-After). */
	readonly delayMs?: number;
}

/**
 * Runs `operation` until it succeeds, `decide` says a failure is final, or the policy's tries are used up
 * (then the last error is thrown). Sleeps between tries honour `signal`.
 *
 * @throws whatever `operation` threw last; TransportError ABORTED when the signal aborts while waiting.
 */
export async function withBackoff<T>(
	policy: BackoffPolicy,
	operation: (attempt: number) => Promise<T>,
	decide: (error: unknown, attempt: number) => RetryDecision,
	signal?: AbortSignal
): Promise<T> {
	for (let attempt = 1; ; attempt++) {
		if (signal?.aborted) throw abortedError(signal.reason);
		try {
			return await operation(attempt);
		} catch (error) {
			const decision = decide(error, attempt);
			if (!decision.retry || attempt >= policy.attempts) throw error;
			await sleep(Math.max(decision.delayMs ?? 0, backoffDelay(policy, attempt + 1)), signal);
		}
	}
}
