import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Three projects, one run (`npm test`):
 * - unit: pure code, no emulator, no SQLite file, no child process, no build (`npm run test:unit`, the fast loop);
 * - e2e: the built `dist/` or child processes (the bot process, the CLI); `dist/` is built once in global setup;
 * - integration: the rest — the emulator and SQLite in the test process. A new test file lands here unless listed.
 */
const unit = [
	'test/core/**/*.test.ts',
	'test/bench/**/*.test.ts',
	'test/support/**/*.test.ts',
	'test/bot/access.test.ts',
	'test/bot/custom-ids.test.ts',
	'test/bot/env-example.test.ts',
	'test/bot/help.test.ts',
	'test/bot/upload-folders.test.ts',
	'test/cli/config.test.ts',
	'test/discord/backoff.test.ts',
	'test/discord/errors.test.ts',
	'test/discord/messages.test.ts',
	'test/discord/nonce.test.ts'
];
const e2e = [
	'test/e2e/**/*.test.ts',
	'test/bot/archive-names.test.ts',
	'test/cli/cli.test.ts',
	'test/cli/headless.test.ts',
	'test/cli/moving-over.test.ts',
	'test/cli/upload.test.ts',
	'test/db/archives.test.ts',
	'test/emulator/control.test.ts'
];

export default defineConfig({
	test: {
		pool: 'forks',
		// Vitest's default is one file at a time on two cores (cores − 1); most of the time of the e2e and integration
		// files is spent waiting on the emulator's rate limits and on child processes, so two at once nearly halve the run.
		maxWorkers: Math.max(2, availableParallelism() - 1),
		testTimeout: 60_000,
		hookTimeout: 60_000,
		reporters: ['default', './test/support/summary-reporter.ts'],
		projects: [
			{ extends: true, test: { name: 'unit', include: unit } },
			{ extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...unit, ...e2e] } },
			{ extends: true, test: { name: 'e2e', include: e2e, globalSetup: ['./test/support/build.ts'] } }
		]
	}
});
