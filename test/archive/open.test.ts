import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ArchiveChannelMissingError, archiveSettings, openArchiveContext } from '../../src/archive/open.js';
import { ConfigError, parseConfig } from '../../src/config.js';
import type { CryptoPool } from '../../src/core/index.js';
import { type HistoryIndex, openIndex } from '../../src/db/index.js';
import type { DiscordTransport } from '../../src/discord/index.js';

describe('openArchiveContext', () => {
	let dir: string;
	beforeAll(async () => {
		dir = await mkdtemp(path.join(tmpdir(), 'dos-open-'));
	});
	afterAll(() => rm(dir, { recursive: true, force: true }));

	const configOf = (extra: Record<string, string> = {}) =>
		parseConfig(
			{
				DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: '111111111111111111',
				DISCORD_DRIVE_LOG_CHANNEL_ID: '222222222222222222',
				USER_KEY: 'a passphrase for the mapping',
				DISCORD_DRIVE_UPLOAD_PATH: path.join(dir, 'up'),
				DISCORD_DRIVE_DOWNLOAD_PATH: path.join(dir, 'down'),
				DOS_DB_PATH: path.join(dir, 'index.sqlite'),
				DOS_CHUNK_SIZE: '1048576',
				DOS_UPLOAD_CONCURRENCY: '3',
				...extra
			},
			{ cwd: dir }
		);

	it('GIVEN a configuration WHEN mapped THEN every archive setting comes from it', () => {
		const config = configOf();
		expect(archiveSettings(config)).toEqual({
			passphrase: 'a passphrase for the mapping',
			uploadRoot: path.join(dir, 'up'),
			downloadRoot: path.join(dir, 'down'),
			archiveChannelId: '111111111111111111',
			logChannelId: '222222222222222222',
			chunkSize: 1048576,
			gzipLevel: config.engine.gzipLevel,
			attachmentLimit: config.engine.attachmentLimit,
			uploadConcurrency: 3,
			format: 2,
			packSize: config.engine.packSize,
			compression: config.engine.compression,
			dedup: 'repository',
			packsPerMessage: 2,
			// Format 2 staging lives beside the index, never under the upload root.
			tempRoot: path.join(dir, 'tmp'),
			legacyBotIds: config.discord.legacyBotIds
		});
	});

	it('GIVEN no archive channel WHEN opened THEN a typed configuration error says what to set, and nothing is opened', async () => {
		const config = configOf({ DISCORD_DRIVE_ARCHIVE_CHANNEL_ID: '' });
		expect(config.discord.archiveChannelId).toBeUndefined();
		expect(() => archiveSettings(config)).toThrow(ArchiveChannelMissingError);
		const opener = vi.fn((file: string) => openIndex({ path: file }));
		const error = await openArchiveContext(config, { transport: { token: 'x' }, log: () => undefined, openIndex: opener }).catch(
			(caught: unknown) => caught
		);
		expect(error).toBeInstanceOf(ArchiveChannelMissingError);
		expect(error).toBeInstanceOf(ConfigError);
		expect((error as ConfigError).problems[0]).toContain('DISCORD_DRIVE_ARCHIVE_CHANNEL_ID');
		expect(opener).not.toHaveBeenCalled();
	});

	it('GIVEN a step that fails to open WHEN opening THEN what was opened before it is closed and the error comes through', async () => {
		let index: HistoryIndex | undefined;
		let indexClose: ReturnType<typeof vi.fn> | undefined;
		const openSpied = (file: string) => {
			index = openIndex({ path: file });
			indexClose = vi.spyOn(index, 'close');
			return index;
		};
		const failure = new Error('no workers today');
		const error = await openArchiveContext(configOf(), {
			transport: { token: 'x', apiUrl: 'http://127.0.0.1:9/api' },
			log: () => undefined,
			openIndex: openSpied,
			createPool: () => {
				throw failure;
			}
		}).catch((caught: unknown) => caught);
		expect(error).toBe(failure);
		expect(indexClose).toHaveBeenCalledTimes(1);

		// Without a way to reach Discord the transport refuses to open: the index opened before it is closed.
		const again = await openArchiveContext(configOf(), { transport: {}, log: () => undefined, openIndex: openSpied }).catch(
			(caught: unknown) => caught
		);
		expect(again).toBeInstanceOf(RangeError);
		expect(indexClose).toHaveBeenCalledTimes(1);
	});

	it('GIVEN an opened context WHEN closed twice THEN an owned pool, the transport and the index close once, in that order; a borrowed pool is left open', async () => {
		const order: string[] = [];
		const pool = { close: vi.fn(() => (order.push('pool'), Promise.resolve())) } as unknown as CryptoPool;
		const opened = await openArchiveContext(configOf(), {
			transport: { token: 'x', apiUrl: 'http://127.0.0.1:9/api' },
			log: () => undefined,
			openIndex: (file) => {
				const index = openIndex({ path: file });
				const close = index.close.bind(index);
				vi.spyOn(index, 'close').mockImplementation(() => {
					order.push('index');
					close();
				});
				return index;
			},
			createPool: () => pool
		});
		// The context holds the transport by its interface; what was opened here is the concrete one, which closes.
		// eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- the context holds the concrete transport this test opened
		const transport = opened.context.transport as DiscordTransport;
		const closeTransport = transport.close.bind(transport);
		vi.spyOn(transport, 'close').mockImplementation(() => {
			order.push('transport');
			closeTransport();
		});
		await Promise.all([opened.close(), opened.close()]);
		expect(order).toEqual(['pool', 'transport', 'index']);

		const borrowed = { close: vi.fn(() => Promise.resolve()) } as unknown as CryptoPool;
		const second = await openArchiveContext(configOf(), { transport: { token: 'x' }, log: () => undefined, pool: borrowed });
		expect(second.context.pool).toBe(borrowed);
		await second.close();
		expect(borrowed.close).not.toHaveBeenCalled();
	});
});
