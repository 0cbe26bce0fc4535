import { countOf, formatBytes } from '../../archive/card.js';
import type { RunnerEvent } from '../../archive/runner.js';
import type { ArchiveService } from '../../archive/service.js';
import { postLogLine } from '../../archive/upload.js';
import { type Job, JobKind } from '../../db/index.js';

/** Kinds whose jobs write their own log line (the upload job posts one when it ends, resume included). */
const selfLogging = new Set<string>([JobKind.Upload, JobKind.Resume, JobKind.IndexBackup]);

/** The log-channel line for a finished job, or null when the job logs itself. */
export function jobLogLine(event: RunnerEvent, archiveId: string | null): string | null {
	if (event.type !== 'finished' || selfLogging.has(event.job.kind)) return null;
	const { job } = event;
	const subject = archiveId === null ? job.kind : `${job.kind} of ${archiveId}`;
	const by = job.requestedBy === null ? '' : ` (asked by <@${job.requestedBy}>)`;
	if (event.error === undefined) return `✅ ${subject} done${by}${resultCounts(job)}.`;
	const stopped = event.error.code === 'ABORTED' || event.error.code === 'CANCELLED' || event.error.code === 'SHUTDOWN';
	return `${stopped ? '⏹️' : '❌'} ${subject} ${stopped ? 'stopped' : 'failed'} (${event.error.code})${by}.`;
}

/** A finished download's counts (never its paths): `: 12 files, 3.4 MB, 5 chunks fetched (the manifest's included)`. */
function resultCounts(job: Job): string {
	if (job.kind !== JobKind.Download || !job.result) return '';
	const value = (key: string) => (typeof job.result?.[key] === 'number' ? job.result[key] : 0);
	const lost = Array.isArray(job.result.lost) ? job.result.lost.length : 0;
	return `: ${countOf(value('files'), 'file')}, ${formatBytes(value('bytes'))}, ${countOf(value('chunksFetched'), 'chunk')} fetched (the manifest's included)${lost > 0 ? `, ${countOf(lost, 'file')} lost` : ''}`;
}

/**
 * Posts one line per finished download, verify, cleanup and rebuild job to the log channel, when one is configured
 * (uploads and resumes post their own). Returns the unsubscribe function. Failures to post are logged by the service's
 * `postLogLine`, never thrown.
 */
export function logFinishedJobs(service: ArchiveService): () => void {
	if (service.context.settings.logChannelId === undefined) return () => undefined;
	return service.subscribe((event) => {
		const lot = event.type === 'finished' ? event.job.archiveLot : null;
		const archiveId = lot === null ? null : (service.context.index.archives.get(lot)?.id ?? null);
		const line = jobLogLine(event, archiveId);
		if (line !== null) void postLogLine(service.context, line);
	});
}
