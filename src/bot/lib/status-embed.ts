import type { APIEmbed } from 'discord.js';
import { formatBytes, repositoryLine } from '../../archive/card.js';
import type { ServiceStatus } from '../../archive/service.js';

/** The repository keys field: whether USER_KEY opens them, and each slot (created, KDF). */
function keysValue(keys: ServiceStatus['keys']): string {
	const slotLines = (slots: readonly { id: string; created: Date; iterations: number }[], opened?: string) =>
		slots.map(
			(slot) =>
				`\`${slot.id.slice(0, 8)}\` created <t:${Math.floor(slot.created.getTime() / 1000)}:d> · PBKDF2-SHA256 ${slot.iterations.toLocaleString('en-US')}${slot.id === opened ? ' · opens with USER_KEY' : ''}`
		);
	switch (keys.state) {
		case 'open':
			return [
				`🔑 ${keys.slots.length} slot${keys.slots.length === 1 ? '' : 's'}, USER_KEY opens them · ${keys.legacyPassphrases} older passphrase${keys.legacyPassphrases === 1 ? '' : 's'} kept`,
				...slotLines(keys.slots, keys.openedSlot)
			].join('\n');
		case 'locked':
			return [
				`⛔ USER_KEY opens none of the key slots (${keys.slots.length} recorded): the passphrase was changed with \`dos key passwd\`. New uploads are refused: set USER_KEY to the current passphrase and restart the bot.`,
				...slotLines(keys.slots)
			].join('\n');
		case 'none':
			return 'not made yet (made from USER_KEY on first use)';
		case 'unavailable':
			return `⚠️ could not be read: ${keys.reason}`;
	}
}

/** `/archive status` as an embed: archives by status, roots and free space, encryption, jobs, last archive and backup. */
export function statusEmbed(status: ServiceStatus): APIEmbed {
	const { index } = status;
	const byStatus = Object.entries(index.archives.byStatus)
		.filter(([, count]) => count > 0)
		.map(([name, count]) => `${name} ${count}`)
		.join(' · ');
	const free = (bytes: number | null) => (bytes === null ? 'unreadable' : `${formatBytes(bytes)} free`);
	const jobs = status.jobs.map((job) => {
		const progress = job.progress;
		const done = progress && progress.bytesTotal > 0 ? ` · ${Math.floor((progress.bytesDone / progress.bytesTotal) * 100)} %` : '';
		return `${job.kind} (job ${job.jobId}${job.lot === null ? '' : `, lot ${job.lot}`})${job.started ? done : ' · queued'}`;
	});
	const fields = [
		{ name: 'Archives', value: `${index.archives.total}${byStatus === '' ? '' : ` (${byStatus})`}` },
		{ name: 'Upload root', value: `\`${status.uploadRoot.path}\` · ${free(status.uploadRoot.freeBytes)}` },
		{ name: 'Download root', value: `\`${status.downloadRoot.path}\` · ${free(status.downloadRoot.freeBytes)}` },
		{
			name: 'Encryption',
			value: status.encryption ? '🔒 on (USER_KEY set)' : '⚠️ off: USER_KEY is not set, uploads and restores are refused',
			inline: true
		},
		{ name: 'Repository keys', value: keysValue(status.keys) },
		{ name: 'Repository (format 2)', value: repositoryLine(index.repository) },
		{ name: 'Log channel', value: status.logChannel ? 'set (index backups, one line per job)' : 'not set', inline: true },
		{ name: 'Jobs', value: jobs.length > 0 ? jobs.join('\n') : 'none running' },
		{
			name: 'Last archive',
			value: index.lastArchive
				? `${index.lastArchive.id} · ${index.lastArchive.status} · <t:${Math.floor(index.lastArchive.createdAt.getTime() / 1000)}:R>`
				: 'none',
			inline: true
		},
		{
			name: 'Last index backup',
			value: index.lastBackup ? `<t:${Math.floor(index.lastBackup.createdAt.getTime() / 1000)}:R>` : 'none',
			inline: true
		}
	];
	return { title: 'Discord Object Store', color: 0x5865f2, fields: fields.map((field) => ({ ...field, value: field.value.slice(0, 1024) })) };
}
