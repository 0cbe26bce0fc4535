import { UserError } from '@sapphire/framework';
import { describe, expect, it } from 'vitest';
import { ArchiveError, ArchiveErrorCode } from '../../src/archive/errors.js';
import { CoreError, CoreErrorCode } from '../../src/core/index.js';
import { IndexError, IndexErrorCode } from '../../src/db/index.js';
import { TransportError, TransportErrorCode } from '../../src/discord/index.js';
import { BotError, BotErrorCode } from '../../src/bot/lib/errors.js';
import { describeBotFailure, REPLY_TEXT_MAX } from '../../src/bot/lib/failure.js';
import { Redactor } from '../../src/core/redact.js';

describe('error mapping', () => {
	it('GIVEN a lower-layer message naming dos commands WHEN described for Discord THEN it names the slash commands instead', () => {
		const missing = describeBotFailure(
			new ArchiveError(
				ArchiveErrorCode.InvalidRequest,
				'The log channel holds no index backup. Rebuild the index instead: `dos index rebuild`.'
			)
		);
		expect(missing.message).toContain('`/archive rebuild`');
		expect(missing.message).not.toMatch(/\bdos (index rebuild|list)/);
		const notFound = describeBotFailure(
			new IndexError(IndexErrorCode.ArchiveNotFound, 'No archive x. Check the id (dos list); or dos resume it.')
		);
		expect(notFound.message).toContain('Check the id (/archive list); or /archive resume it.');
		// A command only the CLI has is named as it is.
		expect(describeBotFailure(new IndexError(IndexErrorCode.IndexBusy, 'Restore it (dos index restore).')).message).toContain(
			'dos index restore'
		);
	});

	it('GIVEN a busy archive WHEN described THEN its message and stable code are shown, as an expected outcome', () => {
		const failure = describeBotFailure(new IndexError(IndexErrorCode.ArchiveBusy, 'Archive #241126-07 is busy with a resume job.\nWait for it.'));
		expect(failure).toMatchObject({ code: 'ARCHIVE_BUSY', expected: true, reference: undefined });
		expect(failure.message).toBe('Archive #241126-07 is busy with a resume job. Wait for it. (code ARCHIVE_BUSY)');
	});

	it('GIVEN a refusal from a precondition or a button WHEN described THEN the sentence is shown with REFUSED', () => {
		expect(describeBotFailure(new UserError({ identifier: 'REFUSED', message: 'Only the owners may.' })).message).toBe(
			'Only the owners may. (code REFUSED)'
		);
		expect(describeBotFailure(new BotError(BotErrorCode.ConfirmationExpired, 'Expired.')).code).toBe('CONFIRMATION_EXPIRED');
	});

	it('GIVEN a fault of a lower layer WHEN described THEN the code is kept and a reference ties the reply to the log', () => {
		const failure = describeBotFailure(new CoreError(CoreErrorCode.TamperedChunk, 'Chunk 3 of #241126-07 does not authenticate.'));
		expect(failure.code).toBe('TAMPERED_CHUNK');
		expect(failure.expected).toBe(false);
		expect(failure.reference).toMatch(/^[0-9a-f]{6}$/);
		expect(failure.message).toContain(`ref ${failure.reference!}`);
	});

	it('GIVEN NOT_FOUND from two layers WHEN described THEN only the layer listed as expected is an outcome; the other is a fault with a reference', () => {
		const path = describeBotFailure(new CoreError(CoreErrorCode.NotFound, 'letters/2024.pdf is not in archive #241126-07.'));
		expect(path).toMatchObject({ code: 'NOT_FOUND', expected: true, reference: undefined });
		expect(path.message).toBe('letters/2024.pdf is not in archive #241126-07. (code NOT_FOUND)');
		const gone = describeBotFailure(
			new TransportError(TransportErrorCode.NotFound, 'Discord does not know the message (fetch message 1 in channel 2).', { channelId: '2' })
		);
		expect(gone.code).toBe('NOT_FOUND');
		expect(gone.expected).toBe(false);
		expect(gone.reference).toMatch(/^[0-9a-f]{6}$/);
		expect(gone.message).toContain(`ref ${gone.reference!}`);
		// A code both layers share that both list stays an outcome for both.
		expect(describeBotFailure(new TransportError(TransportErrorCode.Aborted, 'Stopped on request.')).expected).toBe(true);
		expect(describeBotFailure(new CoreError(CoreErrorCode.Aborted, 'Stopped on request.')).expected).toBe(true);
	});

	it('GIVEN an archive-layer error WHEN described THEN its own code is used', () => {
		const error = new ArchiveError(ArchiveErrorCode.NotResumable, 'Archive #241126-07 is complete: nothing to resume.');
		expect(describeBotFailure(error)).toMatchObject({ code: 'NOT_RESUMABLE', expected: true, reference: undefined });
		const fault = describeBotFailure(new ArchiveError(ArchiveErrorCode.ThreadMismatch, 'The thread holds another chunk 3.'));
		expect(fault).toMatchObject({ code: 'THREAD_MISMATCH', expected: false });
		expect(fault.reference).toMatch(/^[0-9a-f]{6}$/);
	});

	it('GIVEN an unknown error WHEN described THEN the person reads a generic sentence with UNEXPECTED, never the raw message', () => {
		const failure = describeBotFailure(new TypeError('Cannot read properties of undefined (reading token=abc)'));
		expect(failure.code).toBe('UNEXPECTED');
		expect(failure.message).not.toContain('token');
		expect(failure.message).toContain(failure.reference!);
	});

	it('GIVEN a file-system error (ENOENT, EACCES) WHEN described THEN the person who asked reads its code and the file it concerns', () => {
		const error = Object.assign(new Error("ENOENT: no such file or directory, open '/srv/uploads/letters/tax-return-2024.pdf'"), {
			code: 'ENOENT',
			syscall: 'open',
			path: '/srv/uploads/letters/tax-return-2024.pdf'
		});
		const failure = describeBotFailure(error);
		expect(failure.code).toBe('ENOENT');
		expect(failure.message).toContain('/srv/uploads/letters/tax-return-2024.pdf');
		expect(failure.message).toContain(failure.reference!);
		const denied = describeBotFailure(
			Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES', syscall: 'scandir', path: '/srv/x' })
		);
		expect(denied).toMatchObject({ code: 'EACCES' });
		expect(denied.message).toContain('/srv/x');
	});

	it('GIVEN a very long message WHEN described THEN it is cut below the reply bound', () => {
		const failure = describeBotFailure(new CoreError(CoreErrorCode.SourceChanged, `Changed: ${'a/'.repeat(5_000)}`));
		expect(failure.message.length).toBeLessThanOrEqual(REPLY_TEXT_MAX);
		expect(failure.message.endsWith('(code SOURCE_CHANGED)')).toBe(true);
	});

	it('GIVEN secrets WHEN text passes the redactor THEN every occurrence is replaced, the longest first', () => {
		const redactor = new Redactor(['my-secret-token.abc', 'correct horse', undefined, '', 'abc']);
		expect(redactor.redact('a my-secret-token.abc b correct horse c my-secret-token.abc abc')).toBe(
			'a [redacted] b [redacted] c [redacted] [redacted]'
		);
	});

	it('GIVEN a secret shorter than 6 characters WHEN it appears in text THEN it is redacted too', () => {
		expect(new Redactor(['k3y!x']).redact('the key k3y!x leaked')).toBe('the key [redacted] leaked');
	});
});
