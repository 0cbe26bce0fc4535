import { CoreError, CoreErrorCode } from './errors.js';

/**
 * Throws ABORTED when the signal has fired, so long loops stop between steps.
 *
 * @throws {CoreError} ABORTED
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
	if (signal?.aborted) throw abortedError(signal);
}

/** The error every piece of the engine throws when its AbortSignal fires. */
export function abortedError(signal?: AbortSignal): CoreError {
	return new CoreError(
		CoreErrorCode.Aborted,
		'Stopped on request. Run the same command again to start over or resume.',
		{},
		{ cause: signal?.reason }
	);
}
