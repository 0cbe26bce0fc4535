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
