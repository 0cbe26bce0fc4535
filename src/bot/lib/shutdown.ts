import type { SapphireClient } from '@sapphire/framework';

/**
 * Graceful shutdown on SIGINT/SIGTERM: `destroy()` stops the job runner (running jobs become interrupted, and
 * their cards say so with a Resume button), closes the index and the pool, and disconnects. A second signal
 * leaves at once.
 */
export function installShutdown(client: SapphireClient, exit: (code: number) => void = (code) => process.exit(code)): void {
	let stopping = false;
	const stop = (signal: NodeJS.Signals) => {
		if (stopping) {
			exit(130);
			return;
		}
		stopping = true;
		client.logger.info(`${signal}: stopping (running jobs are marked interrupted and can be resumed).`);
		client.destroy().then(
			() => {
				exit(0);
			},
			(error: unknown) => {
				client.logger.error('The bot did not stop cleanly:', error);
				exit(1);
			}
		);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}
