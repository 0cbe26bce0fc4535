import { appendFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resumeArchive } from '../../src/archive/resume.js';
import { planUpload, uploadArchive } from '../../src/archive/upload.js';
import { describeBotFailure } from '../../src/bot/lib/failure.js';
import { type ArchiveHarness, nestedTree, startArchiveHarness, stoppingRun } from './support/harness.js';
import { rejection as caught } from '../support/rejection.js';

/**
 * Cards and the log channel are read by everyone in the server: a failure shows there as a code and a fixed
 * sentence. The file it concerns and the host's paths reach only the person who asked (the error the job ends with,
 * which the bot answers ephemerally and the CLI prints) and the local log.
 */

let harness: ArchiveHarness | undefined;
afterEach(async () => {
	await harness?.close();
	harness = undefined;
});

const settings = { emulator: { limits: { channelMessagesPerWindow: 1000 } }, settings: { chunkSize: 16 * 1024 }, withLogChannel: true } as const;

/** Everything public the failure left: the archive channel's messages (the card) and the log channel's. */
function publicText(h: ArchiveHarness): string {
	const messages = [...h.emulator.messages(h.archiveChannelId), ...h.emulator.messages(h.logChannelId)];
	return JSON.stringify(messages.map((message) => ({ content: message.content, embeds: message.embeds })));
}

function expectNothingPrivate(h: ArchiveHarness, names: readonly string[]): void {
	const text = publicText(h);
	for (const name of names) expect(text).not.toContain(name);
	expect(text).not.toContain(h.dir);
	expect(text).not.toContain(h.uploadRoot);
}

describe('failures on public cards and the log channel', () => {
	it('GIVEN a resume whose source file changed WHEN it fails with SOURCE_CHANGED THEN the card and the log channel say the code without the file name, and the answer to the person names the file', async () => {
		harness = await startArchiveHarness(settings);
		const source = await harness.writeTree('letters', { ...nestedTree(), 'letter-2.pdf': 'dear bank\n'.repeat(4_000) });
		const planned = await planUpload(harness.context, { folder: 'letters' });
		await caught(uploadArchive(harness.context, planned, stoppingRun(2)));
		await appendFile(path.join(source, 'letter-2.pdf'), 'changed');

		const error = await caught(resumeArchive(harness.context, { archive: planned.archive.id }, harness.jobRun()));
		expect(harness.index.archives.require(planned.archive.lot)).toMatchObject({ status: 'failed', errorCode: 'SOURCE_CHANGED' });
		// The person who asked (ephemeral answer, CLI) still learns which file.
		expect(describeBotFailure(error).message).toContain('letter-2.pdf');
		const card = harness.emulator.messages(harness.archiveChannelId)[0]!;
		expect(JSON.stringify(card.embeds)).toContain('SOURCE_CHANGED');
		expect(harness.emulator.messages(harness.logChannelId).some((line) => line.content.includes('SOURCE_CHANGED'))).toBe(true);
		expectNothingPrivate(harness, ['letter-2.pdf', 'letter-2']);
	});

	it('GIVEN an upload whose source file vanished after planning WHEN it fails with ENOENT THEN the card and the log channel hold no file name and no host path, and the answer to the person names the file', async () => {
		harness = await startArchiveHarness(settings);
		const source = await harness.writeTree('letters', { 'a.txt': 'a'.repeat(40_000), 'tax-return-2024.pdf': 'private\n'.repeat(6_000) });
		const planned = await planUpload(harness.context, { folder: 'letters' });
		await rm(path.join(source, 'tax-return-2024.pdf'));

		const error = await caught(uploadArchive(harness.context, planned, harness.jobRun()));
		const archive = harness.index.archives.require(planned.archive.lot);
		expect(archive.status).toBe('failed');
		expect(describeBotFailure(error).message).toContain('tax-return-2024.pdf');
		const card = harness.emulator.messages(harness.archiveChannelId)[0]!;
		expect(JSON.stringify(card.embeds)).toContain(archive.errorCode!);
		expectNothingPrivate(harness, ['tax-return-2024.pdf', 'tax-return']);
	});
});
