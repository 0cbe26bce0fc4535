import type { APIEmbed } from 'discord.js';
import { formatBytes } from '../../archive/card.js';
import type { ServiceStatus } from '../../archive/service.js';

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
