import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeping dead buffers from piling up. A Buffer's bytes live outside V8's heap and are freed only when V8 collects
 * the small object that holds them; V8 starts such a collection on its own only once tens of MiB of that memory have
 * accumulated, and it keeps that account per thread (the main thread and every worker). A process that streams
 * gigabytes through short-lived buffers (CDN pieces, request bodies, packs read back, blobs opened) thus carried up to
 * ~100 MiB of dead buffers per thread: a full verify of 1 GiB through the service peaked at 331 MB, 235 MB when each
 * thread collected after every 8 MiB it moved; an upload of 1 GiB at 257 MB, 220 MB.
 *
 * Collecting costs time, though: the offline engine, CPU-bound, sliced 1 GiB of text 45 % slower with it. So it is
 * off unless a thread turns it on ({@link collectBufferGarbage}): the archive service does for its thread and its
 * pool's workers, where Discord's pace hides the cost. {@link noteBufferChurn} counts the bytes a thread moved through
 * buffers it dropped and collects every so many. The collector is V8's own `gc`, made reachable when a thread turns collection on (the
 * flag `--expose-gc` set at run time, as test runners do to find leaks); where that is refused, nothing is collected
 * early and nothing else changes. Module state: one setting per thread.
 */

/** What the archive service collects after: bytes a thread moves between two early collections. */
export const SERVICE_CHURN_BYTES = 8 * 1024 * 1024;

type Collect = () => void;

/** Undefined until collection is first turned on; null when this runtime does not give one. */
let collector: Collect | null | undefined;
let every: number | undefined;
let churned = 0;

function findCollector(): Collect | null {
	const exposed = (globalThis as { gc?: unknown }).gc;
	if (typeof exposed === 'function') return exposed as Collect;
	try {
		setFlagsFromString('--expose-gc');
		const made: unknown = runInNewContext('gc');
		return typeof made === 'function' ? (made as Collect) : null;
	} catch {
		return null;
	}
}

/** Turns early collection on for this thread (every `bytes` of buffers moved), or off with undefined. */
export function collectBufferGarbage(bytes: number | undefined): void {
	if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 1))
		throw new RangeError(`Collect after a positive number of bytes, not ${bytes}.`);
	every = bytes;
	churned = 0;
	// Found now rather than at the first collection: a thread that turns it on early sets the flag before the
	// threads it starts afterwards exist, and those then find `gc` on their own global.
	if (bytes !== undefined) collector ??= findCollector();
}

/**
 * Notes that this thread dropped buffers holding `bytes` bytes (or is about to); with early collection on, every so
 * many bytes a full collection frees their memory at once instead of when V8 would get to it.
 */
export function noteBufferChurn(bytes: number): void {
	if (every === undefined) return;
	churned += bytes;
	if (churned < every) return;
	churned = 0;
	collector?.();
}
