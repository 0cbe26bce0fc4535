import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
	CardStatus,
	EmbedLimits,
	ProgressMeter,
	cardActions,
	embedLength,
	parseCardCustomId,
	renderCard,
	type CardProgress
} from '../../src/archive/card.js';
import {
	CARD_RECORD_PREFIX,
	CARD_RECORD_URL_BASE,
	cardRecordOf,
	encodeCardRecord,
	encodeCardRecordUrl,
	findCardRecord,
	parseCardRecord,
	parseCardRecordUrl
} from '../../src/archive/card-record.js';
import { isArchiveError } from '../../src/archive/errors.js';
import { type Archive, ArchiveFormat, openIndex } from '../../src/db/index.js';
import { OpenApiSpec } from '../support/openapi.js';

const runs = Number(process.env.FC_RUNS ?? 30);
const index = openIndex({ path: ':memory:' });
afterAll(() => {
	index.close();
});

let uidCounter = 0;
function archive(patch: Partial<Archive> = {}): Archive {
	const uid = (++uidCounter).toString(16).padStart(32, 'a');
	const row = index.archives.allocate({
		uid,
		source: 'photos',
		label: 'photos-2024',
		chunkSize: 9_961_472,
		createdAt: new Date('2024-11-26T10:00:00Z')
	});
	return {
		...index.archives.update(row.lot, {
			fileCount: 12,
			directoryCount: 3,
			originalBytes: 3_400_000_000,
			chunkCount: 342,
			// A thread holds one archive: each row gets its own.
			threadId: String(1234567890123456788n + BigInt(uidCounter))
		}),
		...patch
	};
}

const progress: CardProgress = { bytesDone: 500, bytesTotal: 1000, chunksDone: 5, chunksTotal: 10, rate: 2_000_000, etaMs: 130_000 };

describe('card record', () => {
	it('GIVEN an archive row WHEN its record is encoded and parsed THEN the same record comes back', () => {
		const row = archive();
		const record = cardRecordOf(row);
		const text = encodeCardRecord(record);
		expect(text.startsWith(CARD_RECORD_PREFIX)).toBe(true);
		expect(parseCardRecord(text)).toEqual(record);
		expect(record).toMatchObject({
			id: row.id,
			lot: row.lot,
			uid: row.uid,
			label: 'photos-2024',
			files: 12,
			dirs: 3,
			chunks: 342,
			thread: row.threadId
		});
		expect(row.threadId).toMatch(/^\d{19}$/);
	});

	it('GIVEN a rendered card WHEN its embeds are searched THEN the record is found in the title link, out of the reader’s way', () => {
		const row = archive();
		const body = renderCard({ archive: row, status: 'uploading', progress });
		const embed = body.embeds![0]!;
		expect(findCardRecord(body.embeds ?? [])).toEqual(cardRecordOf(row));
		expect(embed.url!.startsWith(`${CARD_RECORD_URL_BASE}1#`)).toBe(true);
		expect(new URL(embed.url!).protocol).toBe('https:');
		// Nothing a person reads shows the record: the footer says the lot and the format in words.
		expect(embed.footer!.text).toBe(`Lot ${row.lot} · format 1`);
		const two = renderCard({ archive: { ...row, format: ArchiveFormat.Dos2, newBytes: 10, reusedBytes: 0 }, status: 'uploading', progress })
			.embeds![0]!;
		expect(two.footer!.text).toBe(`Lot ${row.lot} · format 2`);
		expect(JSON.stringify(two.fields)).toMatch(/\d+ packs? posted/);
		const shown = JSON.stringify([embed.title, embed.description ?? '', embed.fields, embed.footer]);
		expect(shown).not.toContain('dos-card');
		expect(shown).not.toContain(row.uid);
		expect(findCardRecord([{ title: 'chat', footer: { text: 'Lot 7 • Uploader: x' } }])).toBeNull();
		expect(findCardRecord([{ title: 'a link', url: 'https://example.com/dos-card/1#e30' }])).toBeNull();
	});

	it('GIVEN a card posted before the record moved WHEN its embeds are searched THEN the footer record is still read', () => {
		const row = archive();
		const record = cardRecordOf(row);
		expect(findCardRecord([{ title: `📦 Archive ${row.id}`, footer: { text: encodeCardRecord(record) } }])).toEqual(record);
		expect(parseCardRecordUrl(encodeCardRecordUrl(record))).toEqual(record);
	});

	it('GIVEN the longest label of the widest characters WHEN its record link is built THEN it fits Discord’s 2048 and parses back', () => {
		for (const label of ['\u0001'.repeat(100), '\u0800'.repeat(100), '😀'.repeat(50)]) {
			const record = cardRecordOf(archive({ label, originalBytes: Number.MAX_SAFE_INTEGER, storedBytes: Number.MAX_SAFE_INTEGER }));
			const url = encodeCardRecordUrl(record);
			expect(url.length).toBeLessThanOrEqual(2048);
			expect(parseCardRecordUrl(url)).toEqual(record);
		}
	});

	it.each([
		['another version', `${CARD_RECORD_URL_BASE}2#e30`],
		['a fragment that is not base64url', `${CARD_RECORD_URL_BASE}1#%7B%7D`],
		['a fragment that is not UTF-8', `${CARD_RECORD_URL_BASE}1#${Buffer.from([0xff, 0xfe]).toString('base64url')}`],
		['a fragment that is not JSON', `${CARD_RECORD_URL_BASE}1#${Buffer.from('{oops').toString('base64url')}`],
		['an extra field', 'extra']
	])('GIVEN a record link with %s WHEN parsed THEN BAD_CARD_RECORD', (_name, variant) => {
		const good = cardRecordOf(archive());
		const url =
			variant === 'extra' ? `${CARD_RECORD_URL_BASE}1#${Buffer.from(JSON.stringify({ ...good, secret: 'x' })).toString('base64url')}` : variant;
		let caught: unknown;
		try {
			findCardRecord([{ title: 'x', url }]);
		} catch (error) {
			caught = error;
		}
		expect(isArchiveError(caught, 'BAD_CARD_RECORD')).toBe(true);
	});

	it.each([
		['no prefix', '{"v":1}'],
		['another version', 'dos-card/2 {"v":2}'],
		['not JSON', `${CARD_RECORD_PREFIX}{oops`],
		['an extra field', 'extra'],
		['a bad uid', 'uid'],
		['an id naming another lot', 'lot']
	])('GIVEN a record with %s WHEN parsed THEN BAD_CARD_RECORD', (_name, variant) => {
		const good = cardRecordOf(archive());
		const text =
			variant === 'extra'
				? `${CARD_RECORD_PREFIX}${JSON.stringify({ ...good, secret: 'x' })}`
				: variant === 'uid'
					? `${CARD_RECORD_PREFIX}${JSON.stringify({ ...good, uid: 'XYZ' })}`
					: variant === 'lot'
						? `${CARD_RECORD_PREFIX}${JSON.stringify({ ...good, lot: good.lot + 1 })}`
						: variant;
		let caught: unknown;
		try {
			parseCardRecord(text);
		} catch (error) {
			caught = error;
		}
		expect(isArchiveError(caught, 'BAD_CARD_RECORD')).toBe(true);
	});
});

describe('card rendering', () => {
	it.each([
		['uploading', ['cancel']],
		['slicing', ['cancel']],
		['verifying', ['cancel']],
		['complete', ['download', 'verify', 'delete']],
		['failed', ['resume', 'delete']],
		['interrupted', ['resume', 'delete']],
		['cancelled', ['resume', 'delete']],
		['deleted', []]
	] as const)('GIVEN a %s card WHEN rendered THEN its buttons are %j with archive:<action>:<uid> ids', (status, actions) => {
		const row = archive({ status: status === 'slicing' || status === 'verifying' ? 'uploading' : status });
		const body = renderCard({ archive: row, status, progress });
		const buttons = (body.components ?? []).flatMap((row) => row.components) as unknown as { custom_id: string }[];
		expect(buttons.map((button) => parseCardCustomId(button.custom_id)?.action)).toEqual(actions);
		for (const button of buttons) expect(button.custom_id).toBe(`archive:${parseCardCustomId(button.custom_id)!.action}:${row.uid}`);
		expect(cardActions(status, row)).toEqual(actions);
	});

	it('GIVEN a running upload WHEN rendered THEN the card shows a progress bar with rate and ETA', () => {
		const body = renderCard({
			archive: archive({ status: 'uploading' }),
			status: CardStatus.Uploading,
			progress,
			startedBy: '123456789012345678'
		});
		const embed = body.embeds![0]!;
		expect(embed.title).toContain('Uploading');
		const progressField = embed.fields!.find((field) => field.name === 'Progress')!;
		expect(progressField.value).toMatch(/50%.*5\/10 chunks.*\/s.*ETA 2m 10s/);
		expect(embed.fields!.find((field) => field.name === 'Started by')!.value).toBe('<@123456789012345678>');
	});

	it('GIVEN a failed upload WHEN rendered THEN the card says what failed and offers Resume', () => {
		const row = archive({ status: 'failed', errorCode: 'MISSING_PERMISSIONS', errorMessage: 'The bot may not post in the thread.' });
		const embed = renderCard({ archive: row }).embeds![0]!;
		expect(embed.fields!.find((field) => field.name === 'What happened')!.value).toContain('MISSING_PERMISSIONS');
	});

	it('GIVEN a failure whose text names a file and a host path (ENOENT, EACCES, SOURCE_CHANGED) WHEN rendered THEN the card shows the code and a fixed sentence, neither name nor path', () => {
		const failures = [
			{ errorCode: 'ENOENT', errorMessage: "ENOENT: no such file or directory, open '/srv/uploads/letters/letter-2.pdf'" },
			{ errorCode: 'EACCES', errorMessage: "EACCES: permission denied, scandir '/srv/uploads/letters/private'" },
			{
				errorCode: 'SOURCE_CHANGED',
				errorMessage: 'These files changed while being archived: letter-2.pdf. Wait until nothing writes to them.'
			}
		] as const;
		for (const failure of failures) {
			const row = archive({ status: 'failed', ...failure });
			for (const body of [
				renderCard({ archive: row }),
				renderCard({ archive: row, failure: `${failure.errorCode}: ${failure.errorMessage}` })
			]) {
				const text = JSON.stringify(body.embeds);
				expect(text).toContain(failure.errorCode);
				expect(text).not.toContain('letter-2');
				expect(text).not.toContain('/srv/');
				expect(text).not.toContain('private');
			}
		}
	});

	it('GIVEN a verification made before a resume or a cleanup changed the archive WHEN rendered THEN the card says it is of the archive before that', () => {
		const verified = {
			verifiedAt: new Date('2024-11-27T10:00:00Z'),
			verifyLevel: 'quick',
			verifyOk: false,
			verifySummary: 'quick verify found 12 missing chunk(s).'
		} as const;
		const names = (patch: Partial<Archive>) =>
			renderCard({ archive: archive({ status: 'complete', ...verified, ...patch }) }).embeds![0]!.fields!.map((field) => field.name);
		expect(names({ verifyStale: false })).toContain('Last verification');
		expect(names({ verifyStale: true })).toContain('Last verification (before the last resume)');
		expect(names({ verifyStale: true, status: 'deleted' })).toContain('Last verification (before the last deletion)');
		expect(names({ verifyStale: true })).not.toContain('Last verification');
	});

	it('GIVEN cards in every state WHEN checked against Discord’s OpenAPI RichEmbed THEN each embed, its record link included, conforms', () => {
		const richEmbed = new OpenApiSpec().component('RichEmbed');
		for (const status of Object.values(CardStatus)) {
			const embed = renderCard({ archive: archive({ label: '😀'.repeat(50), status: 'failed', errorMessage: 'x' }), status, progress })
				.embeds![0]!;
			expect(richEmbed(embed)).toEqual([]);
		}
		expect(richEmbed({ title: 't', url: 'not a url' })).not.toEqual([]);
	});

	it('GIVEN any label, failure and progress WHEN rendered THEN the card stays within Discord limits', () => {
		fc.assert(
			fc.property(
				fc.string({ maxLength: 400 }),
				fc.string({ maxLength: 5000 }),
				fc.constantFrom(...Object.values(CardStatus)),
				(label, failure, status) => {
					const row = archive({ label, status: 'failed', errorCode: 'X', errorMessage: failure });
					const body = renderCard({ archive: row, status, progress, failure, startedBy: label || null });
					const embed = body.embeds![0]!;
					expect(embed.title!.length).toBeLessThanOrEqual(EmbedLimits.title);
					for (const field of embed.fields ?? []) expect(field.value.length).toBeLessThanOrEqual(EmbedLimits.fieldValue);
					expect(embedLength(embed)).toBeLessThanOrEqual(EmbedLimits.total);
					expect(findCardRecord(body.embeds!)!.uid).toBe(row.uid);
					expect(embed.url!.length).toBeLessThanOrEqual(2048);
				}
			),
			{ numRuns: runs }
		);
	});

	it('GIVEN steady progress WHEN sampled THEN the meter reports its rate and ETA', () => {
		const meter = new ProgressMeter();
		expect(meter.sample(0, { bytesDone: 0, bytesTotal: 10_000, chunksDone: 0, chunksTotal: 10 }).rate).toBeNull();
		const later = meter.sample(2_000, { bytesDone: 2_000, bytesTotal: 10_000, chunksDone: 2, chunksTotal: 10 });
		expect(later.rate).toBe(1_000);
		expect(later.etaMs).toBe(8_000);
	});
});
