import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openIndex, restoreIndexSnapshot, type HistoryIndex } from '../../src/db/index.js';
import { memoryIndex, tempFolder } from './index-fixture.js';

const opened: HistoryIndex[] = [];
const folders: ReturnType<typeof tempFolder>[] = [];
afterEach(() => {
	for (const index of opened.splice(0)) index.close();
	for (const folder of folders.splice(0)) folder.remove();
});

const channelId = '100000000000000001';
const record = {
	channelId,
	repositoryId: 'ab'.repeat(16),
	keysFile: Buffer.alloc(163, 7),
	messageId: '100000000000000002',
	attachmentId: '100000000000000003'
};

describe('repository keys mirror', () => {
	it('GIVEN a channel WHEN its keys are recorded, replaced and removed THEN one row follows, bytes intact', () => {
		const index = memoryIndex();
		opened.push(index);
		expect(index.repositoryKeys.get(channelId)).toBeUndefined();
		index.repositoryKeys.put(record);
		expect(index.repositoryKeys.get(channelId)?.keysFile.equals(record.keysFile)).toBe(true);
		index.repositoryKeys.put({ ...record, keysFile: Buffer.alloc(268, 9), messageId: '100000000000000004' });
		const row = index.repositoryKeys.get(channelId)!;
		expect(row.messageId).toBe('100000000000000004');
		expect(row.keysFile.length).toBe(268);
		expect(index.repositoryKeys.remove(channelId)).toBe(true);
		expect(index.repositoryKeys.get(channelId)).toBeUndefined();
	});

	it('GIVEN malformed ids or a file out of bounds WHEN recorded THEN refused, nothing kept', () => {
		const index = memoryIndex();
		opened.push(index);
		for (const bad of [
			{ ...record, repositoryId: 'AB'.repeat(16) },
			{ ...record, channelId: '12' },
			{ ...record, messageId: 'x' },
			{ ...record, keysFile: Buffer.alloc(10) },
			{ ...record, keysFile: Buffer.alloc(70_000) }
		]) {
			expect(() => index.repositoryKeys.put(bad)).toThrow(expect.objectContaining({ code: 'INVALID_RECORD' }));
		}
		expect(index.repositoryKeys.get(channelId)).toBeUndefined();
	});

	it('GIVEN recorded keys WHEN the index is snapshotted (an index backup) and restored THEN the keys come back', async () => {
		const folder = tempFolder();
		folders.push(folder);
		const file = join(folder.path, 'index.sqlite');
		const index = openIndex({ path: file });
		index.repositoryKeys.put(record);
		const snapshot = join(folder.path, 'snapshot.sqlite');
		await index.snapshot(snapshot);
		index.repositoryKeys.remove(channelId);
		index.close();
		await restoreIndexSnapshot({ snapshot, path: file });
		const restored = openIndex({ path: file });
		opened.push(restored);
		expect(restored.repositoryKeys.get(channelId)?.keysFile.equals(record.keysFile)).toBe(true);
	});
});
