import { throwIfAborted } from './abort.js';

/**
 * Maps items through an async function with at most `limit` calls running, yielding results in item order. A
 * rejection surfaces when its item's turn comes; later calls already started are left to settle on their own.
 */
export async function* mapOrdered<T, R>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<{ item: T; result: R }> {
	const running: { item: T; promise: Promise<R> }[] = [];
	const iterator = items[Symbol.iterator]();
	let exhausted = false;
	const fill = () => {
		while (!exhausted && running.length < limit) {
			const next = iterator.next();
			if (next.done) {
				exhausted = true;
				return;
			}
			const promise = fn(next.value);
			// Handled at its turn; until then it must not count as an unhandled rejection.
			promise.catch(() => undefined);
			running.push({ item: next.value, promise });
		}
	};
	fill();
	while (running.length > 0) {
		const head = running.shift()!;
		const result = await head.promise;
		fill();
		yield { item: head.item, result };
	}
}

/**
 * Runs `task` over `items` with at most `limit` at once, in no particular order; the first error stops the rest from
 * starting and is thrown once the running ones have settled.
 *
 * @throws {CoreError} ABORTED when `signal` fires; otherwise the first error a task threw.
 */
export async function forEachConcurrently<T>(
	items: readonly T[],
	limit: number,
	signal: AbortSignal,
	task: (item: T) => Promise<void>
): Promise<void> {
	let next = 0;
	let failed: { error: unknown } | undefined;
	const worker = async () => {
		while (failed === undefined && next < items.length) {
			const item = items[next++]!;
			try {
				// Inside the try: an abort seen here stops this worker like a failure, and the others' running tasks are
				// still awaited before anything is thrown (their callers clean up after them).
				throwIfAborted(signal);
				await task(item);
			} catch (error) {
				failed ??= { error };
			}
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	if (failed !== undefined) throw failed.error;
	throwIfAborted(signal);
}
