import { describe, expect, it } from 'vitest';
import { archiveChoice, pathChoice } from '../../src/bot/lib/archive-choices.js';
import { cardLink } from '../../src/bot/lib/card-link.js';
import { jobLogLine } from '../../src/bot/lib/job-log.js';
import type { Archive, Job } from '../../src/db/index.js';

const archive = {
	id: '#241126-07',
	lot: 7,
	label: 'photos-2024',
	source: 'Photos/2024',
	originalBytes: 3.2 * 1024 ** 3,
	status: 'complete',
	format: 'dos-1',
	channelId: '100000000000000001',
	cardMessageId: '100000000000000002'
} as unknown as Archive;

describe('autocomplete choices, card links and log lines', () => {
	it('GIVEN an archive WHEN shown as a choice THEN it reads id · label · size · status with the id as value', () => {
		expect(archiveChoice({ archive, matchedBy: 'label' })).toEqual({
			name: '#241126-07 · photos-2024 · 3.20 GiB · complete',
			value: '#241126-07'
		});
	});

	it('GIVEN a match by file name WHEN shown THEN the file name comes first, and a very long one is cut to 100 characters keeping size and status', () => {
		expect(archiveChoice({ archive, matchedBy: 'file', fileName: 'IMG_0001.jpg' }).name).toBe(
			'#241126-07 · 📄 IMG_0001.jpg · photos-2024 · 3.20 GiB · complete'
		);
		const long = archiveChoice({ archive: { ...archive, label: 'x'.repeat(300) }, matchedBy: 'file', fileName: 'y'.repeat(300) });
		expect(long.name.length).toBeLessThanOrEqual(100);
		expect(long.name.endsWith(' · 3.20 GiB · complete')).toBe(true);
		expect(long.name.startsWith('#241126-07 · 📄 yyy')).toBe(true);
	});

	it('GIVEN a legacy archive WHEN shown THEN its format is named', () => {
		expect(archiveChoice({ archive: { ...archive, format: 'legacy-v3.1', label: null }, matchedBy: 'id' }).name).toBe(
			'#241126-07 · 📁 Photos/2024 · 3.20 GiB · complete (legacy-v3.1)'
		);
	});

	it('GIVEN an unlabelled archive or a path inside one WHEN offered as a choice THEN the folder shows, and an over-long path is left out', () => {
		expect(archiveChoice({ archive: { ...archive, label: null }, matchedBy: 'id' }).name).toBe(
			'#241126-07 · 📁 Photos/2024 · 3.20 GiB · complete'
		);
		expect(pathChoice({ path: 'Vacances', type: 'directory', size: 0 })).toEqual({ name: '📁 Vacances', value: 'Vacances' });
		expect(pathChoice({ path: 'Vacances/a.jpg', type: 'file', size: 2048 })).toEqual({
			name: '📄 Vacances/a.jpg · 2.00 KiB',
			value: 'Vacances/a.jpg'
		});
		const deep = `${'d/'.repeat(45)}file.txt`;
		expect(pathChoice({ path: deep, type: 'file', size: 1 })!.name.length).toBeLessThanOrEqual(100);
		expect(pathChoice({ path: `${deep}${'x'.repeat(20)}`, type: 'file', size: 1 })).toBeUndefined();
	});

	it('GIVEN an archive with or without a card WHEN linked THEN the message link or the channel mention comes back', () => {
		expect(cardLink('100000000000000009', archive, '100000000000000003')).toBe(
			'https://discord.com/channels/100000000000000009/100000000000000001/100000000000000002'
		);
		expect(cardLink('100000000000000009', { channelId: null, cardMessageId: null }, '100000000000000003')).toBe('<#100000000000000003>');
	});

	it('GIVEN finished jobs WHEN logged THEN downloads, verifies, cleanups and rebuilds get one line each, uploads and resumes none (they post their own)', () => {
		const job = (kind: string) => ({ id: 1, kind, archiveLot: 7, requestedBy: '100000000000000004' }) as unknown as Job;
		expect(jobLogLine({ type: 'finished', job: job('verify') }, '#241126-07')).toBe(
			'✅ verify of #241126-07 done (asked by <@100000000000000004>).'
		);
		expect(jobLogLine({ type: 'finished', job: job('download'), error: { code: 'TAMPERED_CHUNK', message: 'x' } }, '#241126-07')).toBe(
			'❌ download of #241126-07 failed (TAMPERED_CHUNK) (asked by <@100000000000000004>).'
		);
		expect(jobLogLine({ type: 'finished', job: { ...job('rebuild'), archiveLot: null, requestedBy: null } }, null)).toBe('✅ rebuild done.');
		expect(jobLogLine({ type: 'finished', job: job('upload') }, '#241126-07')).toBeNull();
		expect(jobLogLine({ type: 'started', job: job('verify') }, '#241126-07')).toBeNull();
	});

	it('GIVEN a download that ended WHEN logged THEN a restore gives its counts and no path, and a cancelled one reads stopped, not failed', () => {
		const job = {
			id: 1,
			kind: 'download',
			archiveLot: 7,
			requestedBy: null,
			result: { files: 3, bytes: 2048, chunksFetched: 2, lost: [], restoredTo: '/srv/downloads/#241126-07 docs' }
		} as unknown as Job;
		const restored = jobLogLine({ type: 'finished', job }, '#241126-07');
		expect(restored).toBe("✅ download of #241126-07 done: 3 files, 2.00 KiB, 2 chunks fetched (the manifest's included).");
		expect(jobLogLine({ type: 'finished', job: { ...job, result: null }, error: { code: 'CANCELLED', message: 'x' } }, '#241126-07')).toBe(
			'⏹️ download of #241126-07 stopped (CANCELLED).'
		);
	});
});
