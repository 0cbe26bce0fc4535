// Imports nothing: the CLI's output reads it without loading the service (card.ts re-exports it).

/** `0 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(bytes: number): string {
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** The format 2 repository in one line (`/archive status` and `list`, `dos status` and `list`). */
export function repositoryLine(totals: {
	readonly archives: number;
	readonly packs: number;
	readonly storedBytes: number;
	readonly blobs: number;
	readonly rawBytes: number;
}): string {
	if (totals.archives === 0 && totals.packs === 0) return 'no format 2 archive yet';
	const plural = (count: number, word: string) => `${count.toLocaleString('en-US')} ${word}${count === 1 ? '' : 's'}`;
	return `${plural(totals.archives, 'archive')} · ${plural(totals.packs, 'pack')}, ${formatBytes(totals.storedBytes)} stored · ${plural(totals.blobs, 'blob')} holding ${formatBytes(totals.rawBytes)}`;
}
