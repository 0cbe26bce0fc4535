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
 * An autocomplete choice for an archive: `#241126-07 · photos-2024 · 3.2 GiB · complete` (the source folder,
 * `📁 photos`, when it has no label), with the matching file name in front of the label when found by one. The value is the archive id; the name is cut to
 * Discord's 100 characters.
 */
export function archiveChoice(suggestion: ArchiveSuggestion): ArchiveChoice {
	const { archive } = suggestion;
	const parts = [archive.id];
	if (suggestion.matchedBy === 'file' && suggestion.fileName !== undefined) parts.push(`📄 ${suggestion.fileName}`);
	// Choices are seen only by the person typing: an unlabelled archive shows its source folder to be recognised by.
	parts.push(archive.label !== null && archive.label !== '' ? archive.label : `📁 ${archive.source}`);
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

/**
 * An autocomplete choice for a path inside an archive: `📁 Photos/2024` or `📄 Photos/2024/a.jpg · 2.0 MiB`. The value
 * is the path itself; Discord bounds a value to 100 characters, so a longer path is not offered (undefined): it can
 * still be typed whole.
 */
export function pathChoice(entry: { readonly path: string; readonly type: string; readonly size: number }): ArchiveChoice | undefined {
	if (entry.path.length > AUTOCOMPLETE_TEXT_MAX) return undefined;
	const icon = entry.type === 'directory' ? '📁' : entry.type === 'symlink' ? '🔗' : '📄';
	const tail = entry.type === 'file' ? ` · ${formatBytes(entry.size)}` : '';
	const room = AUTOCOMPLETE_TEXT_MAX - icon.length - 1 - tail.length;
	const shown = entry.path.length > room ? `…${entry.path.slice(entry.path.length - room + 1)}` : entry.path;
	return { name: `${icon} ${shown}${tail}`, value: entry.path };
}
