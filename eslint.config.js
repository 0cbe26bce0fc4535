// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The layers of docs/design.md §2. Arrows point down: bot/cli → archive → discord/db → core.
 * Each entry lists what a layer may not import; `src/core` also may not read the environment or print.
 */
const appLayers = ['config', 'db', 'discord', 'archive', 'bot', 'cli', 'emulator'];
const forbid = (layers, packages) => ({
	'no-restricted-imports': [
		'error',
		{
			paths: packages.map((name) => ({ name, message: 'This layer may not depend on this package (docs/design.md §2).' })),
			patterns: [
				...packages.map((name) => ({ group: [`${name}/*`], message: 'This layer may not depend on this package (docs/design.md §2).' })),
				...layers.map((name) => ({
					regex: `^\\.{1,2}/(.*/)?${name}(/|\\.js$|$)`,
					message: `This layer may not import src/${name} (docs/design.md §2).`
				}))
			]
		}
	]
});

const discordPackages = ['discord.js', '@discordjs/rest', '@discordjs/ws', '@discordjs/core', '@sapphire/framework', '@sapphire/plugin-subcommands'];
const sqlPackages = ['better-sqlite3', 'drizzle-orm'];

export default tseslint.config(
	{ ignores: ['dist/**', 'node_modules/**', 'migrations/**', 'coverage/**', 'bench/results/**', 'bench/.build/**', 'test/fixtures/**', 'data/**'] },
	js.configs.recommended,
	...tseslint.configs.strictTypeChecked,
	{
		languageOptions: {
			globals: { ...globals.node },
			parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bench/*.mjs', 'bench/*.js'] }, tsconfigRootDir: import.meta.dirname }
		},
		rules: {
			'@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
			'@typescript-eslint/consistent-type-imports': 'error',
			'@typescript-eslint/no-floating-promises': 'error',
			'@typescript-eslint/only-throw-error': 'error',
			eqeqeq: ['error', 'always', { null: 'ignore' }],
			// A switch over a union names every member (or throws in `default`), so a new status or kind cannot slip through.
			'@typescript-eslint/switch-exhaustiveness-check': 'error',
			// Numbers print as themselves in messages; other non-strings still need an explicit conversion.
			'@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
			// With `noUncheckedIndexedAccess`, `array[i]!` is how the code says a loop bound or a length check already
			// proves the index; rewriting each into a runtime check would add branches that can never run.
			'@typescript-eslint/no-non-null-assertion': 'off'
		}
	},
	{
		files: ['**/*.js', '**/*.mjs'],
		...tseslint.configs.disableTypeChecked
	},
	{
		files: ['src/core/**/*.ts'],
		rules: {
			...forbid(appLayers, [...discordPackages, ...sqlPackages, 'ws', 'dotenv', 'commander', 'cli-progress']),
			'no-console': 'error',
			'no-restricted-properties': [
				'error',
				{ object: 'process', property: 'env', message: 'src/core reads no environment: take it as a parameter.' }
			]
		}
	},
	{ files: ['src/db/**/*.ts'], rules: forbid(['config', 'discord', 'archive', 'bot', 'cli', 'emulator'], discordPackages) },
	{
		files: ['src/discord/**/*.ts'],
		rules: forbid(['config', 'db', 'archive', 'bot', 'cli', 'emulator'], ['@sapphire/framework', '@sapphire/plugin-subcommands', ...sqlPackages])
	},
	{
		files: ['src/archive/**/*.ts'],
		rules: forbid(['bot', 'cli', 'emulator'], ['discord.js', '@sapphire/framework', '@sapphire/plugin-subcommands', 'better-sqlite3'])
	},
	{ files: ['src/bot/**/*.ts'], rules: forbid(['cli', 'emulator'], ['better-sqlite3']) },
	// The CLI is the other face beside the bot: it may not reach into the bot. The sandbox is the one place where both
	// faces meet (it runs the bot in-process beside the emulator, for `dos sandbox` and `dos demo`), and says so.
	{
		files: ['src/cli/**/*.ts'],
		ignores: ['src/cli/commands/sandbox.ts'],
		rules: forbid(['bot'], ['better-sqlite3', '@sapphire/framework', '@sapphire/plugin-subcommands'])
	},
	{ files: ['src/cli/commands/sandbox.ts'], rules: forbid([], ['better-sqlite3']) },
	// Configuration sits beside core: it reads the environment and knows the defaults of core, nothing above.
	{
		files: ['src/config.ts'],
		rules: forbid(
			appLayers.filter((l) => l !== 'config'),
			[...discordPackages, ...sqlPackages, 'ws', 'commander', 'cli-progress']
		)
	},
	{ files: ['src/emulator/**/*.ts'], rules: forbid(['core', ...appLayers.filter((l) => l !== 'emulator')], [...discordPackages, ...sqlPackages]) },
	{
		files: ['test/**/*.ts', 'bench/**'],
		rules: {
			'@typescript-eslint/no-unsafe-assignment': 'off',
			'@typescript-eslint/no-unsafe-member-access': 'off',
			'@typescript-eslint/no-unsafe-argument': 'off',
			'@typescript-eslint/no-unsafe-call': 'off',
			'@typescript-eslint/no-unsafe-return': 'off',
			'@typescript-eslint/no-non-null-assertion': 'off',
			'@typescript-eslint/unbound-method': 'off',
			// Teardown uses `await env?.close()` on a `let env: T` that `beforeEach` assigns: if setup threw half-way the
			// value is undefined at run time although its type says otherwise, and the guard keeps that first error visible.
			'@typescript-eslint/no-unnecessary-condition': 'off'
		}
	}
);
