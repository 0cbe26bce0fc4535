import { describe, expect, it } from 'vitest';
import { ArchiveError, ArchiveErrorCode } from '../../src/archive/errors.js';
import { ExitCode, describeFailure } from '../../src/cli/failure.js';
import { CoreError, CoreErrorCode } from '../../src/core/index.js';
import { IndexError, IndexErrorCode } from '../../src/db/index.js';
import { TransportError, TransportErrorCode } from '../../src/discord/index.js';

describe('describeFailure', () => {
	it('GIVEN a file-system error naming a path WHEN described THEN it says what is wrong with the path, not "unexpected"', () => {
		const inTheWay = Object.assign(new Error("ENOTDIR: not a directory, mkdir '/data/afile/packs'"), {
			code: 'ENOTDIR',
			syscall: 'mkdir',
			path: '/data/afile/packs'
		});
		expect(describeFailure(inTheWay)).toEqual({
			code: 'ENOTDIR',
			message: 'Cannot mkdir "/data/afile/packs": a part of it is a file, not a folder. Check the paths given to the command.',
			exitCode: ExitCode.Usage
		});
		const denied = Object.assign(new Error('EACCES'), { code: 'EACCES', syscall: 'open', path: '/root/x' });
		expect(describeFailure(denied)).toMatchObject({ code: 'EACCES', exitCode: ExitCode.Failed });
		// A path holding a newline is quoted, never printed raw; a rename names both ends.
		const moved = Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'rename', path: '/tmp/a\nb', dest: '/tmp/c' });
		expect(describeFailure(moved)).toEqual({
			code: 'ENOENT',
			message: 'Cannot rename "/tmp/a\\nb" to "/tmp/c": it does not exist.',
			exitCode: ExitCode.Failed
		});
		// Without a path it is not about what the user gave: still unexpected.
		expect(describeFailure(Object.assign(new Error('boom'), { code: 'ENOENT' })).code).toBe('UNEXPECTED');
	});

	it('GIVEN NOT_FOUND from the engine and from the transport WHEN described THEN only the engine one is a usage error', () => {
		expect(describeFailure(new CoreError(CoreErrorCode.NotFound, 'letters/ is not in the archive.'))).toEqual({
			code: 'NOT_FOUND',
			message: 'letters/ is not in the archive.',
			exitCode: ExitCode.Usage
		});
		expect(describeFailure(new TransportError(TransportErrorCode.NotFound, 'Discord does not know the message.'))).toEqual({
			code: 'NOT_FOUND',
			message: 'Discord does not know the message.',
			exitCode: ExitCode.Failed
		});
	});

	it('GIVEN the usage codes of each layer WHEN described THEN they exit 2, and faults of the same layers exit 1', () => {
		expect(describeFailure(new ArchiveError(ArchiveErrorCode.NotResumable, 'x')).exitCode).toBe(ExitCode.Usage);
		expect(describeFailure(new IndexError(IndexErrorCode.ArchiveNotFound, 'x')).exitCode).toBe(ExitCode.Usage);
		expect(describeFailure(new TransportError(TransportErrorCode.InvalidToken, 'x')).exitCode).toBe(ExitCode.Usage);
		expect(describeFailure(new CoreError(CoreErrorCode.NoKey, 'x')).exitCode).toBe(ExitCode.Usage);
		// An archive id typed wrong (`--archive garbage`, `--lot 0`) is the command asked wrongly.
		expect(describeFailure(new IndexError(IndexErrorCode.InvalidArchiveId, 'x')).exitCode).toBe(ExitCode.Usage);
		expect(describeFailure(new CoreError(CoreErrorCode.InvalidArchiveId, 'x')).exitCode).toBe(ExitCode.Usage);
		expect(describeFailure(new ArchiveError(ArchiveErrorCode.ThreadMismatch, 'x')).exitCode).toBe(ExitCode.Failed);
		expect(describeFailure(new IndexError(IndexErrorCode.ArchiveBusy, 'x')).exitCode).toBe(ExitCode.Failed);
		expect(describeFailure(new TransportError(TransportErrorCode.DiscordUnavailable, 'x')).exitCode).toBe(ExitCode.Failed);
		expect(describeFailure(new CoreError(CoreErrorCode.TamperedChunk, 'x')).exitCode).toBe(ExitCode.Failed);
	});
});
