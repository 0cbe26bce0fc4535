import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.ts'],
		pool: 'forks',
		testTimeout: 60_000,
		hookTimeout: 60_000,
		// Property-based tests read FC_RUNS to run longer locally; CI keeps the default.
		env: { FORCE_COLOR: '0' }
	}
});
