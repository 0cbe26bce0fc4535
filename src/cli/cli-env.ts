import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigVariable } from '../config.js';

/** The file the sandbox and `dos emulator` write into their data folder for a CLI to load with `--env-file`. */
export const CLI_ENV_FILE = 'cli.env';

/** A dotenv value: quoted when it holds anything a dotenv reader could take apart (spaces, #, quotes). */
function dotenvValue(value: string): string {
	return /^[\w./:@+,-]*$/u.test(value) ? value : JSON.stringify(value);
}

/**
 * Writes the settings a `dos` command needs to reach this local Discord (and, for the sandbox, its index and roots)
 * into `<dataDir>/cli.env`, readable only by its owner (it may hold the sandbox's generated key). Returns its path.
 */
export async function writeCliEnv(dataDir: string, variables: Partial<Record<ConfigVariable, string>>, source: string): Promise<string> {
	const file = path.resolve(dataDir, CLI_ENV_FILE);
	const lines = [
		`# The settings of a dos command against ${source}, rewritten at each start (the port changes).`,
		`# Use: dos --env-file ${file} <command>   (the environment still wins over this file)`,
		...Object.entries(variables)
			// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- values come from the environment, where unset names are undefined
			.filter((entry): entry is [string, string] => entry[1] !== undefined)
			.map(([name, value]) => `${name}=${dotenvValue(value)}`)
	];
	await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
	return file;
}
