import { formatBytes } from '../../archive/card.js';
import { type Archive, type ArchiveStatus, ArchiveStatus as Status, type ArchiveSuggestion } from '../../db/index.js';
import { AUTOCOMPLETE_TEXT_MAX } from './upload-folders.js';

/** The archive-id options of `/archive` and which archives each can act on (autocomplete offers only those). */
export const archiveOptionStatuses = {
	download: [Status.Complete],
	verify: [Status.Complete],
	resume: [Status.Failed, Status.Interrupted, Status.Cancelled, Status.Uploading, Status.Planned],
	cleanup: [Status.Planned, Status.Uploading, Status.Complete, Status.Failed, Status.Interrupted, Status.Cancelled]
} as const satisfies Record<string, readonly ArchiveStatus[]>;

export type ArchiveOptionScope = keyof typeof archiveOptionStatuses;

/** One autocomplete choice. */
export interface ArchiveChoice {
	readonly name: string;
	readonly value: string;
}

/**
 * An autocomplete choice for an archive: `#241126-07 · photos-2024 · 3.2 GiB · complete`, with the matching file
 * name in front of the label when the archive was found by one. The value is the archive id; the name is cut to
 * Discord's 100 characters.
 */
export function archiveChoice(suggestion: ArchiveSuggestion): ArchiveChoice {
	const { archive } = suggestion;
	const parts = [archive.id];
	if (suggestion.matchedBy === 'file' && suggestion.fileName !== undefined) parts.push(`📄 ${suggestion.fileName}`);
	if (archive.label !== null && archive.label !== '') parts.push(archive.label);
	parts.push(formatBytes(archive.originalBytes), statusWord(archive));
	let name = parts.join(' · ');
	if (name.length > AUTOCOMPLETE_TEXT_MAX) {
		// Keep the id, size and status whole: cut the middle (file name, label).
		const tail = ` · ${formatBytes(archive.originalBytes)} · ${statusWord(archive)}`;
		name = `${name.slice(0, AUTOCOMPLETE_TEXT_MAX - tail.length - 1)}…${tail}`;
	}
	return { name, value: archive.id };
}

function statusWord(archive: Pick<Archive, 'status' | 'format'>): string {
	return archive.format === 'dos-1' ? archive.status : `${archive.status} (${archive.format})`;
}
