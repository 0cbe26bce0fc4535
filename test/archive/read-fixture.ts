import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
	buildManifest,
	chunksSpanned,
	deriveArchiveKey,
	planArchive,
	sealManifest,
	sliceArchive,
	toChunkRecord,
	walk,
	type Manifest
} from '../../src/core/index.js';
import { type Archive, ArchiveStatus, ChunkKind } from '../../src/db/index.js';
import { chunkNonce } from '../../src/discord/index.js';
import { type ArchiveHarness, testKdfIterations, testPassphrase } from './support/harness.js';
import { cardRecordOf, encodeCardRecord } from '../../src/archive/card-record.js';
import { legacyCardContent } from '../../src/archive/legacy-card.js';

/**
 * Lays out archives in the emulator the way the upload does (card in the archive channel, a thread started on it,
 * one message per chunk with its opaque name, manifest parts last) and records them in the index, built from core
 * and the transport directly, so the read side is tested against the same layout without depending on the upload job.
 */
export async function postTestArchive(
	harness: ArchiveHarness,
	folder: string,
	options: { readonly label?: string; readonly passphrase?: string } = {}
): Promise<{ archive: Archive; manifest: Manifest; threadId: string }> {
	const { context, index, transport, settings } = harness;
	const source = path.join(harness.uploadRoot, folder);
	const walked = await walk(source);
	const plan = planArchive(walked, { chunkSize: settings.chunkSize, attachmentLimit: settings.attachmentLimit });
	const key = await deriveArchiveKey(options.passphrase ?? testPassphrase, { iterations: testKdfIterations });
	const uid = randomBytes(16);
	let archive = index.archives.allocate({
		uid: uid.toString('hex'),
		source: folder,
		label: options.label ?? null,
		chunkSize: plan.chunkSize,
		gzipLevel: settings.gzipLevel,
		kdf: { id: 'pbkdf2-sha256', iterations: key.iterations, salt: key.salt.toString('hex') }
	});
	index.archives.recordPlan(archive.lot, {
		entries: plan.entries.map((entry) => {
			const span = entry.type === 'file' && entry.size > 0 ? chunksSpanned(plan.chunkSize, entry.offset!, entry.size) : [];
			return {
				path: entry.path,
				type: entry.type,
				size: entry.size,
				mode: entry.mode,
				mtimeMs: entry.mtimeMs,
				offset: entry.type === 'file' ? entry.offset! : null,
				firstChunk: span[0] ?? null,
				lastChunk: span.at(-1) ?? null,
				target: entry.target ?? null
			};
		}),
		chunks: Array.from({ length: plan.chunkCount }, (_, chunkIndex) => ({ index: chunkIndex }))
	});
	const card = await transport.postCard(settings.archiveChannelId, { content: `archive ${archive.id}` });
	const thread = await transport.startThread({ channelId: settings.archiveChannelId, messageId: card.messageId, name: `${archive.id} chunks` });
	archive = index.archives.update(archive.lot, {
		channelId: settings.archiveChannelId,
		threadId: thread.id,
		cardMessageId: card.messageId,
		status: ArchiveStatus.Uploading
	});
	const slicing = sliceArchive({ root: walked.root, plan, key, uid, archiveId: archive.id, pool: context.pool, gzipLevel: settings.gzipLevel });
	const records = [];
	for await (const chunk of slicing) {
		const nonce = chunkNonce({ archiveUid: archive.uid, kind: 'data', index: chunk.index, generation: 0 });
		const facts = {
			filename: chunk.filename,
			storedSize: chunk.storedSize,
			sha256: chunk.sha256,
			plainSize: chunk.plainSize,
			plainSha256: chunk.plainSha256,
			compressed: chunk.compressed
		};
		index.chunks.markInFlight(archive.lot, { index: chunk.index, nonce, ...facts });
		const posted = await transport.postChunk({
			threadId: thread.id,
			files: [{ name: chunk.filename, data: chunk.bytes }],
			content: `chunk ${chunk.index}`,
			nonce
		});
		index.chunks.markStored(archive.lot, { index: chunk.index, messageId: posted.messageId, attachmentId: posted.attachments[0]!.id, ...facts });
		records.push(toChunkRecord(chunk));
	}
	index.entries.setFileHashes(archive.lot, slicing.fileHashes);
	const manifest = buildManifest({
		plan,
		uid,
		archiveId: archive.id,
		lot: archive.lot,
		...(options.label === undefined ? {} : { label: options.label }),
		createdAt: archive.createdAt,
		tool: 'discord-object-store test',
		key,
		gzipLevel: settings.gzipLevel,
		chunks: records,
		fileHashes: slicing.fileHashes
	});
	for (const part of await sealManifest(manifest, key, { gzipLevel: settings.gzipLevel })) {
		const nonce = chunkNonce({ archiveUid: archive.uid, kind: 'manifest', index: part.index, generation: 0 });
		const facts = {
			kind: ChunkKind.Manifest,
			index: part.index,
			filename: part.filename,
			storedSize: part.storedSize,
			sha256: part.sha256
		};
		index.chunks.markInFlight(archive.lot, { ...facts, nonce });
		const posted = await transport.postChunk({
			threadId: thread.id,
			files: [{ name: part.filename, data: part.bytes }],
			content: `manifest ${part.index}`,
			nonce
		});
		index.chunks.markStored(archive.lot, { ...facts, messageId: posted.messageId, attachmentId: posted.attachments[0]!.id });
	}
	await transport.archiveThread(thread.id);
	archive = index.archives.setStatus(archive.lot, ArchiveStatus.Complete);
	await transport.editCard(settings.archiveChannelId, card.messageId, {
		embeds: [{ title: `Archive ${archive.id}`, footer: { text: encodeCardRecord(cardRecordOf(archive)) } }]
	});
	return { archive, manifest, threadId: thread.id };
}

/**
 * Lays out the legacy v3.1 fixture in the emulator as the original tool left it: its JSON-block card in the archive
 * channel, a thread `#DDMMYY-NN chunks` on it, one message per `.bin` chunk and one for the JSON manifest.
 */
export async function postLegacyFixture(harness: ArchiveHarness, fixtureDir: string): Promise<{ cardMessageId: string; threadId: string }> {
	const { transport, settings } = harness;
	const names = (await readdir(fixtureDir)).sort();
	const manifestName = names.find((name) => name.endsWith('.json'))!;
	const manifest = JSON.parse(await readFile(path.join(fixtureDir, manifestName), 'utf8')) as {
		files: Record<string, { original_name: string }>;
		total_original_size: number;
	};
	const metadata: Record<string, unknown> = {
		lot: 7,
		archive_id: '#241126-07',
		timestamp: '2024-11-26 02:13:28',
		status: 'partial',
		file_count: Object.keys(manifest.files).length,
		total_size_bytes: manifest.total_original_size,
		uploaded_files: [],
		failed_files: [],
		message_ids: [],
		chunk_count: names.length,
		files_display: Object.values(manifest.files).map((file) => file.original_name),
		uploader: 'someone#0001',
		archive_channel_id: Number(settings.archiveChannelId),
		storage_channel_id: null
	};
	const card = await transport.postCard(settings.archiveChannelId, {
		content: legacyCardContent(metadata),
		embeds: [{ title: '📦 Archive #241126-07', footer: { text: 'Lot 7 • Uploader: someone#0001' } }]
	});
	const thread = await transport.startThread({ channelId: settings.archiveChannelId, messageId: card.messageId, name: '#241126-07 chunks' });
	// The original posted five at a time: the manifest is not necessarily last.
	const order = [names[2]!, manifestName, ...names.filter((name) => name !== names[2] && name !== manifestName)];
	for (const name of order) await transport.uploadFile(thread.id, { file: { name, data: await readFile(path.join(fixtureDir, name)) } });
	metadata.status = 'success';
	metadata.thread_id = thread.id;
	// Python wrote the thread id as a bare JSON number.
	const content = legacyCardContent(metadata).replace(`"thread_id":"${thread.id}"`, `"thread_id":${thread.id}`);
	await transport.editCard(settings.archiveChannelId, card.messageId, { content });
	return { cardMessageId: card.messageId, threadId: thread.id };
}
