import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ArchiveContext } from '../../src/archive/context.js';
import { fetchAttachmentToMemory } from '../../src/archive/thread-reader.js';
import { CoreErrorCode, isCoreError } from '../../src/core/index.js';

/** A context whose transport streams `pieces` into the target, whatever size was asked for (a CDN that over-sends). */
function contextSending(pieces: readonly Buffer[]): { ctx: ArchiveContext; written: () => number } {
	let written = 0;
	const transport = {
		async downloadAttachment(_location: unknown, target: { stream: Writable }) {
			for (const piece of pieces) {
				await new Promise<void>((resolve) => {
					target.stream.write(piece, () => {
						resolve();
					});
				});
				written += piece.length;
			}
			return { bytes: written, sha256: '' };
		}
	};
	return { ctx: { transport } as unknown as ArchiveContext, written: () => written };
}

const location = { channelId: '1', messageId: '2', attachmentId: '3' };
const failure = { archive: { id: '#241126-01' }, index: 0, label: 'Chunk 1', item: undefined };

describe('fetchAttachmentToMemory', () => {
	it('GIVEN an attachment of the recorded size WHEN fetched THEN its bytes are returned', async () => {
		const { ctx } = contextSending([Buffer.from('abc'), Buffer.from('de')]);
		const bytes = await fetchAttachmentToMemory(ctx, { location, expectedSize: 5, failure });
		expect(bytes.toString()).toBe('abcde');
	});

	it('GIVEN a download that sends more than the recorded size WHEN fetched THEN it is refused as a damaged chunk', async () => {
		const { ctx } = contextSending([Buffer.alloc(4), Buffer.alloc(4), Buffer.alloc(4)]);
		const error: unknown = await fetchAttachmentToMemory(ctx, { location, expectedSize: 6, failure }).catch((caught: unknown) => caught);
		expect(isCoreError(error, CoreErrorCode.TamperedChunk)).toBe(true);
		expect((error as Error).message).toContain('Chunk 1');
		expect((error as Error).message).toContain('more than the 6 bytes on record');
	});
});
