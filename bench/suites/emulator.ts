/**
 * The emulator under load: 9.5 MiB attachments uploaded through discord.js REST (multipart, nonce +
 * enforce_nonce, as the archive service sends chunks) into several threads at once, then downloaded back from
 * the CDN. The emulator runs as its own process (the built `dist/emulator`), so its peak RSS is measured apart
 * from the client's: it must not grow with the bytes stored.
 */
import { REST } from '@discordjs/rest';
import { Routes } from 'discord-api-types/v10';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { BenchSuite, CaseParams, CaseResult, SuiteContext, TargetCheck } from '../harness/suite.js';
import { distEntry } from '../harness/paths.js';
import { rssGrowthTarget } from '../harness/targets.js';

const MiB = 1024 * 1024;
const CHUNK = 9_961_472;
const DIST = distEntry('emulator');

interface Started {
	api: string;
	control: string;
	token: string;
	archive: string;
}

/** Starts the built emulator in its own process, with limits out of the way (throughput, not rules, is measured). */
async function startEmulatorProcess(dataDir: string) {
	const entry = `
const { startEmulator } = await import(${JSON.stringify(DIST)});
const emulator = await startEmulator({ dataDir: ${JSON.stringify(dataDir)}, limits: { channelMessagesPerWindow: 1_000_000, globalRequestsPerSecond: 1_000_000, routeRequestsPerSecond: 1_000_000 } });
process.stdout.write(JSON.stringify({ api: emulator.apiUrl, control: emulator.controlUrl, token: emulator.token, archive: emulator.ids.channels.archive }) + '\\n');
process.on('SIGTERM', () => emulator.close().then(() => process.exit(0)));
`;
	const child = spawn(process.execPath, ['--input-type=module', '-e', entry], { stdio: ['ignore', 'pipe', 'inherit'] });
	const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
	return { child, started: JSON.parse(line) as Started };
}

interface EmulatorStatsBody {
	bytesStored: number;
	attachments: number;
	status429: number;
	status5xx: number;
	memory: { rssBytes: number; peakRssBytes: number };
}

const cases = {
	/** Uploads `attachments` × 9.5 MiB into `threads` threads concurrently, then downloads them all. */
	async upload(params: CaseParams) {
		const count = Number(params.attachments);
		const threads = Number(params.threads);
		const dataDir = String(params.dataDir);
		await rm(dataDir, { recursive: true, force: true });
		await mkdir(dataDir, { recursive: true });
		const { child, started } = await startEmulatorProcess(dataDir);
		try {
			const rest = new REST({ api: started.api, timeout: 120_000, globalRequestsPerSecond: 1_000_000 }).setToken(started.token);
			const stats = async () => (await (await fetch(`${started.control}/stats`)).json()) as EmulatorStatsBody;
			const chunk = randomBytes(CHUNK);
			const threadIds: string[] = [];
			for (let index = 0; index < threads; index++) {
				const card = (await rest.post(Routes.channelMessages(started.archive), { body: { content: `card ${index}` } })) as { id: string };
				await rest.post(Routes.threads(started.archive, card.id), { body: { name: `lot ${index}`, auto_archive_duration: 1440 } });
				threadIds.push(card.id);
			}
			const idle = await stats();
			const uploadStart = performance.now();
			let next = 0;
			await Promise.all(
				threadIds.map(async (threadId) => {
					for (;;) {
						const index = next++;
						if (index >= count) return;
						await rest.post(Routes.channelMessages(threadId), {
							body: { content: '', nonce: `c${index}`, enforce_nonce: true, attachments: [{ id: '0' }] },
							files: [{ name: `${String(index).padStart(4, '0')}.bin`, data: chunk, contentType: 'application/octet-stream' }]
						});
					}
				})
			);
			const uploadSeconds = (performance.now() - uploadStart) / 1000;
			const afterUpload = await stats();
			if (afterUpload.bytesStored !== count * CHUNK)
				throw new Error(`the emulator stored ${afterUpload.bytesStored} B, expected ${count * CHUNK}`);

			const downloadStart = performance.now();
			let downloaded = 0;
			await Promise.all(
				threadIds.map(async (threadId) => {
					let after = '0';
					for (;;) {
						const page = (await rest.get(Routes.channelMessages(threadId), { query: new URLSearchParams({ limit: '100', after }) })) as {
							id: string;
							attachments: { url: string }[];
						}[];
						if (page.length === 0) return;
						after = page[0]!.id;
						for (const message of page) {
							for (const attachment of message.attachments) {
								const response = await fetch(attachment.url);
								for await (const part of response.body as AsyncIterable<Uint8Array>) downloaded += part.length;
							}
						}
					}
				})
			);
			const downloadSeconds = (performance.now() - downloadStart) / 1000;
			const final = await stats();
			return {
				bytes: count * CHUNK,
				chunks: count,
				storedBytes: afterUpload.bytesStored,
				seconds: uploadSeconds,
				externalPeakRssBytes: final.memory.peakRssBytes,
				note:
					`upload ${((count * CHUNK) / MiB / uploadSeconds).toFixed(1)} MiB/s over ${threads} threads; ` +
					`download ${(downloaded / MiB / downloadSeconds).toFixed(1)} MiB/s; ` +
					`emulator RSS idle ${(idle.memory.rssBytes / MiB).toFixed(0)} MiB, peak ${(final.memory.peakRssBytes / MiB).toFixed(0)} MiB; ` +
					`429s ${final.status429}, 5xx ${final.status5xx}`
			};
		} finally {
			const exited = once(child, 'exit');
			child.kill('SIGTERM');
			await exited;
			await rm(dataDir, { recursive: true, force: true });
		}
	}
} satisfies BenchSuite['cases'];

async function run(context: SuiteContext) {
	const results: CaseResult[] = [];
	const sizes = [
		{ id: 'upload/24', attachments: Math.max(4, Math.round(24 * context.scale)) },
		{ id: 'upload/96', attachments: Math.max(8, Math.round(96 * context.scale)) }
	];
	for (const size of sizes) {
		results.push(
			await context.runCase({
				id: size.id,
				kind: 'upload',
				label: `${size.attachments} × 9.5 MiB through discord.js into 4 threads, then downloaded`,
				params: { attachments: size.attachments, threads: 4, dataDir: path.join(context.scratch, size.id.replace('/', '-')) }
			})
		);
	}
	const large = results[1];
	const target = 100 * MiB;
	const throughput: TargetCheck =
		large?.ok === true
			? {
					id: 'emulator-upload',
					description: 'uploads of 9.5 MiB attachments through discord.js on loopback',
					measured: `${((large.mbPerSecond * 1e6) / MiB).toFixed(1)} MiB/s`,
					threshold: '≥ 100 MiB/s',
					pass: large.mbPerSecond * 1e6 >= target
				}
			: {
					id: 'emulator-upload',
					description: 'uploads of 9.5 MiB attachments through discord.js on loopback',
					measured: large === undefined ? 'case missing' : `case failed: ${large.error ?? ''}`,
					threshold: '≥ 100 MiB/s',
					pass: false
				};
	return {
		corpora: [],
		cases: results,
		targets: [
			throughput,
			rssGrowthTarget(
				'emulator-rss',
				"the emulator's peak RSS does not grow with the bytes stored (4× more stored)",
				results[0],
				results[1],
				1.25,
				32e6
			)
		],
		notes: [
			'Peak RSS here is the emulator process alone (the built dist/emulator), read from its /_emu/stats; the discord.js client runs in the case process.',
			'The client keeps one 9.5 MiB buffer; discord.js copies it into a FormData per request, the emulator streams each part to disk.'
		]
	};
}

export const suite: BenchSuite = {
	name: 'emulator',
	description: 'the loopback Discord: 9.5 MiB attachment uploads and downloads through discord.js, and the emulator process memory',
	cases,
	run
};
