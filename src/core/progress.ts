/** What a long operation is doing. */
export type ProgressPhase = 'walk' | 'slice' | 'manifest' | 'assemble' | 'verify' | 'rehash';

/** A progress event: rate and ETA are for the UI to compute. */
export interface ProgressEvent {
	readonly phase: ProgressPhase;
	readonly bytesDone: number;
	readonly bytesTotal: number;
	readonly chunksDone: number;
	readonly chunksTotal: number;
}

/** Receives progress events; must not throw. */
export type ProgressListener = (event: ProgressEvent) => void;
