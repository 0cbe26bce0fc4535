import { describe, expect, it } from 'vitest';
import { ArchiveError, ArchiveErrorCode } from '../../src/archive/errors.js';
import { CodeTable, CodedError, CoreError, CoreErrorCode, isCoreError } from '../../src/core/index.js';
import { IndexError, IndexErrorCode } from '../../src/db/index.js';
import { TransportError, TransportErrorCode, isTransportError } from '../../src/discord/index.js';

describe('CodedError', () => {
	it('GIVEN an error of each layer WHEN inspected THEN it is a CodedError and an Error with its own name, code, details and cause', () => {
		const cause = new Error('disk');
		const errors = [
			[new CoreError(CoreErrorCode.DiskFull, 'full', { file: '/x' }, { cause }), 'CoreError', 'DISK_FULL', { file: '/x' }],
			[new IndexError(IndexErrorCode.ArchiveBusy, 'busy', { jobId: 3 }, { cause }), 'IndexError', 'ARCHIVE_BUSY', { jobId: 3 }],
			[new ArchiveError(ArchiveErrorCode.NoSuchJob, 'none', { jobId: 4 }, { cause }), 'ArchiveError', 'NO_SUCH_JOB', { jobId: 4 }],
			[
				new TransportError(TransportErrorCode.NotFound, 'gone', { channelId: '5' }, { cause }),
				'TransportError',
				'NOT_FOUND',
				{ channelId: '5' }
			]
		] as const;
		for (const [error, name, code, details] of errors) {
			expect(error).toBeInstanceOf(Error);
			expect(error).toBeInstanceOf(CodedError);
			expect(error.name).toBe(name);
			expect(error.code).toBe(code);
			expect(error.details).toEqual(details);
			expect(error.cause).toBe(cause);
			expect(String(error)).toBe(`${name}: ${error.message}`);
		}
		// The transport's details stay readable as fields of their own.
		const transport = new TransportError(TransportErrorCode.RateLimited, 'wait', { status: 429, retryable: true });
		expect(transport).toMatchObject({ status: 429, retryable: true, discordCode: undefined });
	});

	it('GIVEN errors of two layers with the same code WHEN tested by class THEN neither passes for the other', () => {
		const core = new CoreError(CoreErrorCode.NotFound, 'no such path');
		const transport = new TransportError(TransportErrorCode.NotFound, 'no such message');
		expect(isCoreError(core, CoreErrorCode.NotFound)).toBe(true);
		expect(isCoreError(transport)).toBe(false);
		expect(isTransportError(core)).toBe(false);
	});
});

describe('CodeTable', () => {
	const table = CodeTable.empty()
		.with(CoreError, [CoreErrorCode.NotFound, CoreErrorCode.Aborted])
		.with(TransportError, [TransportErrorCode.Aborted]);

	it('GIVEN codes listed per class WHEN an error is looked up THEN class and code must both match', () => {
		expect(table.has(new CoreError(CoreErrorCode.NotFound, 'x'))).toBe(true);
		expect(table.has(new TransportError(TransportErrorCode.NotFound, 'x'))).toBe(false);
		expect(table.has(new TransportError(TransportErrorCode.Aborted, 'x'))).toBe(true);
		expect(table.has(new CoreError(CoreErrorCode.WrongKey, 'x'))).toBe(false);
		expect(table.has(new IndexError(IndexErrorCode.ArchiveNotFound, 'x'))).toBe(false);
	});

	it('GIVEN something that is not a coded error but carries a listed code WHEN looked up THEN it is not in the table', () => {
		expect(table.has(Object.assign(new Error('x'), { code: 'NOT_FOUND' }))).toBe(false);
		expect(table.has({ code: 'NOT_FOUND' })).toBe(false);
		expect(table.has(undefined)).toBe(false);
	});

	it('GIVEN a table WHEN extended THEN the original is unchanged', () => {
		const wider = table.with(IndexError, [IndexErrorCode.ArchiveNotFound]);
		expect(wider.has(new IndexError(IndexErrorCode.ArchiveNotFound, 'x'))).toBe(true);
		expect(table.has(new IndexError(IndexErrorCode.ArchiveNotFound, 'x'))).toBe(false);
	});
});
