import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { Encoder } from '@toondepauw/node-zstd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
	codecFromId,
	codecId,
	compress,
	compressSync,
	decompress,
	decompressSync,
	parseCodec,
	zstdOutputBound,
	type Codec
} from '../../../src/core/repo/codec.js';
import { isCoreError } from '../../../src/core/errors.js';

const codecs: Codec[] = ['none', 'gzip-1', 'gzip-9', 'zstd-1', 'zstd-3', 'zstd-19'];
const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));

describe('codec', () => {
	it('GIVEN codec names WHEN parsed THEN only none, gzip-1…9 and zstd-1…19 are accepted, ids round trip', () => {
		for (let level = 1; level <= 9; level++) expect(codecFromId(codecId(parseCodec(`gzip-${level}`)))).toBe(`gzip-${level}`);
		for (let level = 1; level <= 19; level++) expect(codecFromId(codecId(parseCodec(`zstd-${level}`)))).toBe(`zstd-${level}`);
		expect(codecId('none')).toBe(0);
		for (const bad of ['gzip-0', 'gzip-10', 'zstd-0', 'zstd-20', 'zstd', 'gzip', 'lz4-1', '', 'gzip-01']) {
			expect(() => parseCodec(bad), bad).toThrow(/Unknown compression/);
		}
		for (const id of [1, 32, 42, 64, 84, 255]) expect(() => codecFromId(id)).toThrow(/names no codec/);
	});

	it.each(codecs)('GIVEN text WHEN compressed with %s THEN it shrinks (unless none) and round trips', async (codec) => {
		const packed = await compress(codec, text);
		expect(packed.codec).toBe(codec);
		if (codec !== 'none') expect(packed.bytes.length).toBeLessThan(text.length / 10);
		expect((await decompress(packed.codec, packed.bytes, text.length)).equals(text)).toBe(true);
	});

	it.each(codecs)('GIVEN random bytes or empty input WHEN compressed with %s THEN they are stored raw as none', async (codec) => {
		const random = randomBytes(300_000);
		const packed = await compress(codec, random);
		expect(packed.codec).toBe('none');
		expect(packed.bytes.equals(random)).toBe(true);
		expect((await compress(codec, Buffer.alloc(0))).codec).toBe('none');
		expect((await compress(codec, Buffer.from('a'))).codec).toBe('none');
	});

	it('GIVEN a payload that inflates past the recorded length WHEN decompressed THEN it is refused', async () => {
		const bomb = Buffer.alloc(8 * 1024 * 1024);
		const gz = gzipSync(bomb, { level: 9 });
		await expect(decompress('gzip-9', gz, 1000)).rejects.toThrow(/invalid/);
		const zs = new Encoder(19).encodeSync(bomb);
		expect(zstdOutputBound(zs)).toBeGreaterThanOrEqual(bomb.length);
		await expect(decompress('zstd-19', zs, 1000)).rejects.toThrow(/more than recorded/);
		// Shorter than recorded is refused too.
		await expect(decompress('gzip-9', gz, bomb.length + 1)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT'));
		await expect(decompress('zstd-19', zs, bomb.length + 1)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT'));
		await expect(decompress('none', Buffer.alloc(10), 11)).rejects.toSatisfy((e) => isCoreError(e, 'BAD_FORMAT'));
	});

	it('GIVEN a zstd frame with trailing bytes, a second frame or truncation WHEN decompressed THEN it is refused', async () => {
		const zs = new Encoder(3).encodeSync(text);
		await expect(decompress('zstd-3', Buffer.concat([zs, zs]), text.length * 2)).rejects.toThrow(/after the frame/);
		await expect(decompress('zstd-3', zs.subarray(0, zs.length - 1), text.length)).rejects.toThrow(/invalid/);
		await expect(decompress('zstd-3', Buffer.from('nope nope'), 9)).rejects.toThrow(/magic/);
	});

	it('GIVEN any bytes WHEN round tripped through every codec THEN they come back', async () => {
		await fc.assert(
			fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.constantFrom(...codecs), async (bytes, codec) => {
				const packed = await compress(codec, bytes);
				expect((await decompress(packed.codec, packed.bytes, bytes.length)).equals(Buffer.from(bytes))).toBe(true);
			}),
			{ numRuns: 100 }
		);
	});

	it('GIVEN a worker thread WHEN it uses the zstd binding THEN it compresses and decompresses there', async () => {
		const worker = new Worker(
			`const { parentPort } = require('node:worker_threads');
			const { Decoder, Encoder } = require('@toondepauw/node-zstd');
			const raw = Buffer.alloc(1 << 20, 'worker text ');
			const packed = new Encoder(3).encodeSync(raw);
			parentPort.postMessage([packed.length, new Decoder().decodeSync(packed).equals(raw)]);`,
			{ eval: true }
		);
		const [[length, equal]] = (await once(worker, 'message')) as [[number, boolean]];
		await worker.terminate();
		expect(length).toBeLessThan(1 << 16);
		expect(equal).toBe(true);
	});

	it('GIVEN zstd levels WHEN text is compressed THEN higher levels are smaller (the level is applied)', () => {
		const source = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i % 977} of ${(i * 7919) % 1013}\n`).join(''));
		const sizes = [1, 9, 19].map((level) => compressSync(`zstd-${level}`, source).bytes.length);
		expect(sizes[1]!).toBeLessThan(sizes[0]!);
		expect(sizes[2]!).toBeLessThan(sizes[1]!);
		expect(decompressSync('zstd-19', compressSync('zstd-19', source).bytes, source.length).equals(source)).toBe(true);
	});
});
