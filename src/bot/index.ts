#!/usr/bin/env node
// The bot against Discord (`npm start`): configuration from the environment and `.env`, then login.
import './setup.js';
import { ConfigError, loadConfig, userKeyWarning } from '../config.js';
import { DosClient } from './client.js';
import { installShutdown } from './lib/shutdown.js';

let config;
try {
	config = loadConfig({ require: ['discordToken', 'archiveChannel', 'owners'] });
} catch (error) {
	if (!(error instanceof ConfigError)) throw error;
	process.stderr.write(`${error.message}\nSee .env.example and docs/bot.md for every setting.\n`);
	process.exit(2);
}

const client = new DosClient({ config });
installShutdown(client);
const weakKey = userKeyWarning(config);
if (weakKey !== undefined) client.logger.warn(weakKey);
try {
	await client.login();
} catch (error) {
	client.logger.fatal('The bot could not start:', error instanceof Error ? error.message : error);
	await client.destroy();
	process.exit(1);
}
