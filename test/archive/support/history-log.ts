/**
 * History logs written as the original tool wrote them: `json.dump(logs, f, indent=4)` of a list of dicts, Discord ids
 * as JSON numbers (Python ints, beyond a double's precision), non-ASCII escaped.
 */

/** A Discord id the original stored as a Python int: written unquoted. */
export class PyInt {
	public readonly digits: string;
	public constructor(digits: string) {
		this.digits = digits;
	}
}

/** `json.dumps(value, indent=4)`, with {@link PyInt} values written as bare integers. */
export function pythonJson(value: unknown): string {
	const text = JSON.stringify(value, (_key, item: unknown) => (item instanceof PyInt ? `@@int:${item.digits}@@` : item), 4);
	return text.replace(/"@@int:(\d+)@@"/g, '$1').replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A log entry of the original's newest version (card and thread). */
export function threadEntry(
	lot: number,
	options: {
		archiveId: string;
		threadId: string;
		cardId?: string;
		messageIds?: readonly string[];
		status?: string;
		timestamp?: string;
		archiveChannelId?: string;
	}
) {
	return {
		lot,
		archive_id: options.archiveId,
		timestamp: options.timestamp ?? '2024-11-26 14:03:07',
		message_ids: (options.messageIds ?? []).map((id) => new PyInt(id)),
		status: options.status ?? 'success',
		file_count: 2,
		total_size_bytes: 4242,
		uploaded_files: ['0001-abcdef012345-0123456789abcdef-0000.bin', '2-manifest_140307_261124.json'],
		failed_files: [],
		thread_id: new PyInt(options.threadId),
		archive_message_id: new PyInt(options.cardId ?? options.threadId),
		archive_channel_id: options.archiveChannelId === undefined ? null : new PyInt(options.archiveChannelId),
		storage_channel_id: null,
		chunk_count: 2
	};
}

/** A log entry of the original's first versions: chunk messages in the storage channel, no card, no thread. */
export function threadlessEntry(
	lot: number,
	options: { archiveId?: string; messageIds: readonly string[]; status?: string; timestamp?: string; uploadedFiles?: readonly string[] }
) {
	return {
		lot,
		...(options.archiveId === undefined ? {} : { archive_id: options.archiveId }),
		timestamp: options.timestamp ?? '2024-11-20 09:15:00',
		message_ids: options.messageIds.map((id) => new PyInt(id)),
		status: options.status ?? 'success',
		file_count: options.uploadedFiles?.length ?? options.messageIds.length,
		total_size_bytes: 1234,
		uploaded_files: options.uploadedFiles ?? [],
		failed_files: []
	};
}
