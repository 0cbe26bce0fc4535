import { InvalidArgumentError } from 'commander';
import path from 'node:path';
import { type AppConfig, type ConfigNeed, loadConfig, readEnvironment, userKeyWarning } from '../config.js';
import { type CryptoPool, type CryptoPoolOptions, createCryptoPool } from '../core/pool.js';
import type { ExitCode } from './failure.js';
import type { CliIo } from './io.js';
import { Reporter } from './report.js';

/** One invocation of `dos`: the IO it was given and the state its commands share (exit code, `--env-file`). */
export interface CliInvocation {
	readonly io: CliIo;
	exitCode: ExitCode;
	/** `dos --env-file <path>`: settings read beneath the environment and above ./.env (the sandbox's `cli.env`). */
	envFile?: string;
}

/**
 * The variables a command's configuration is read from: the environment, then the `--env-file` (if given), then
 * `./.env`; an earlier source always wins.
 *
 * @throws {ConfigError} when the `--env-file` cannot be read.
 */
export function commandEnvironment(context: CliInvocation): Record<string, string | undefined> {
	const { io } = context;
	if (context.envFile === undefined) return { ...io.env };
	const fromFile = readEnvironment({ env: {}, envFile: path.resolve(io.cwd, context.envFile) });
	return { ...fromFile, ...io.env };
}

/** What a command handler gets. */
export interface CommandRun {
	readonly io: CliIo;
	readonly reporter: Reporter;
	/** Loads the configuration, requiring only what this command needs. */
	readonly config: (require?: readonly ConfigNeed[]) => AppConfig;
	/** A crypto pool for this command, closed when it ends. */
	readonly pool: (workers: number, options?: Omit<CryptoPoolOptions, 'workers'>) => CryptoPool;
}

/**
 * Runs a command handler with a reporter and a pool, turning any error into its message and exit code. The handler
 * returns the exit code (1 when the work found problems, as `verify` does).
 */
export async function runCommand(context: CliInvocation, json: boolean, handler: (run: CommandRun) => Promise<ExitCode>): Promise<void> {
	const reporter = new Reporter(context.io, json);
	const pools: CryptoPool[] = [];
	let warnedWeakKey = false;
	try {
		context.exitCode = await handler({
			io: context.io,
			reporter,
			config: (require = []) => {
				const config = loadConfig({ env: commandEnvironment(context), cwd: context.io.cwd, require });
				reporter.keepSecret([config.discord.token?.reveal(), config.userKey?.reveal()]);
				const weakKey = userKeyWarning(config);
				if (weakKey !== undefined && !warnedWeakKey) {
					warnedWeakKey = true;
					reporter.warn(weakKey);
				}
				return config;
			},
			pool: (workers, options) => {
				const pool = createCryptoPool({ ...options, workers });
				pools.push(pool);
				return pool;
			}
		});
	} catch (error) {
		context.exitCode = reporter.error(error).exitCode;
	} finally {
		reporter.close();
		await Promise.all(pools.map((pool) => pool.close()));
	}
}

/** A commander parser for whole numbers within a range. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
	return (value) => {
		const parsed = Number(value.replace(/_/g, ''));
		if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max)
			throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
		return parsed;
	};
}

/** Collects a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
	return [...previous, value];
}
