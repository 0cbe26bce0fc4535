import type { Command } from 'commander';
import { ArchiveError, ArchiveErrorCode } from '../../archive/errors.js';
import type { Job } from '../../db/index.js';
import { type CliInvocation, type CommandRun, runCommand } from '../invocation.js';
import { ExitCode } from '../failure.js';
import type { OutputOptions } from '../io.js';
import { openCliIndex } from '../service.js';

/**
 * `dos cancel <job|id>`: asks a running or queued job to stop, whichever process holds it (the bot, another `dos`
 * command). The request is recorded in the job table; the holder stops the job at its next heartbeat and its card says
 * how it ended. An upload or resume stays resumable.
 */
export function register(program: Command, context: CliInvocation): void {
	program
		.command('cancel')
		.description('Cancel a running or queued job (upload, resume, download, verify…), whichever process runs it: by archive or by job.')
		.argument('<job|id>', 'job:<n> or #<n> (a job number, as `dos status` lists them), or the archive: #DDMMYY-NN, DDMMYY-NN, its lot or uid')
		.option('--json', 'print one JSON line')
		.action(async (target: string, options: OutputOptions) =>
			runCommand(context, options.json ?? false, (run) => Promise.resolve(cancel(run, target)))
		);
}

/** Records the cancel request of the job `target` names. @throws {ArchiveError} NO_SUCH_JOB; IndexError ARCHIVE_NOT_FOUND. */
function cancel(run: CommandRun, target: string): ExitCode {
	const { index } = openCliIndex(run);
	try {
		const jobNumber = /^(?:job[:#]?|#)(\d+)$/i.exec(target.trim())?.[1];
		let job: Job | undefined;
		let archiveId: string | null = null;
		if (jobNumber !== undefined) {
			job = index.jobs.get(Number(jobNumber));
			if (job !== undefined && job.status !== 'running' && job.status !== 'queued') job = undefined;
			if (job === undefined)
				throw new ArchiveError(
					ArchiveErrorCode.NoSuchJob,
					`No job ${jobNumber} is running or queued: it ended already, or never existed. \`dos status\` lists the running jobs.`
				);
			archiveId = job.archiveLot === null ? null : (index.archives.get(job.archiveLot)?.id ?? null);
		} else {
			const archive = index.archives.require(target);
			archiveId = archive.id;
			job = index.jobs.activeFor(archive.lot);
			if (job === undefined)
				throw new ArchiveError(ArchiveErrorCode.NoSuchJob, `Nothing is running on ${archive.id}, so there is nothing to cancel.`, {
					archiveId: archive.id,
					lot: archive.lot
				});
		}
		const requested = index.jobs.requestCancel(job.id);
		const silent =
			requested.status === 'running' && requested.leaseExpiresAt !== null && requested.leaseExpiresAt.getTime() < Date.now()
				? ` Its process has not answered since ${requested.heartbeatAt?.toISOString() ?? 'it started'}: if it is gone, the next bot or dos start marks the job interrupted.`
				: '';
		run.reporter.result({ jobId: requested.id, kind: requested.kind, archiveId, status: requested.status, cancelRequested: true }, [
			`Asked job ${requested.id} (${requested.kind}${archiveId === null ? '' : ` of ${archiveId}`}) to stop: the process running it stops it within a few seconds.${requested.kind === 'upload' || requested.kind === 'resume' ? ` Resume it later with dos resume ${archiveId ?? ''}.` : ''}${silent}`
		]);
		return ExitCode.Ok;
	} finally {
		index.close();
	}
}
