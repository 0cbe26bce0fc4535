import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/**
 * The direction of the layers (docs/design.md §2) is the linter's to enforce: an import planted against it in any layer
 * must fail `npm run lint`. Each case lints one line as if it stood in a file of that layer, with the project's own
 * configuration (the type-aware rules off: the planted file does not exist, and they are not what is checked here).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({ cwd: root, overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }] });

async function restricted(file: string, source: string): Promise<string[]> {
	const [result] = await eslint.lintText(`${source}\nexport const planted = typeof imported;\n`, { filePath: path.join(root, file) });
	return (result?.messages ?? []).filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
}

const wrong: [file: string, source: string][] = [
	['src/core/planted.ts', "import { imported } from '../db/index.js';"],
	['src/core/planted.ts', "import { imported } from '../config.js';"],
	['src/core/planted.ts', "import { imported } from 'discord.js';"],
	['src/core/legacy/planted.ts', "import { imported } from '../../archive/index.js';"],
	['src/db/planted.ts', "import { imported } from '../discord/index.js';"],
	['src/db/planted.ts', "import { imported } from '../archive/index.js';"],
	['src/discord/planted.ts', "import { imported } from '../db/index.js';"],
	['src/discord/planted.ts', "import { imported } from 'better-sqlite3';"],
	['src/archive/planted.ts', "import { imported } from '../bot/client.js';"],
	['src/archive/planted.ts', "import { imported } from '../cli/program.js';"],
	['src/archive/planted.ts', "import { imported } from 'discord.js';"],
	['src/bot/lib/planted.ts', "import { imported } from '../../cli/program.js';"],
	['src/bot/planted.ts', "import { imported } from '../emulator/index.js';"],
	['src/cli/planted.ts', "import { imported } from '../bot/client.js';"],
	['src/cli/commands/planted.ts', "import { imported } from '../../bot/lib/replies.js';"],
	['src/cli/planted.ts', "import { imported } from 'better-sqlite3';"],
	['src/cli/planted.ts', "import { imported } from '@sapphire/framework';"],
	['src/config.ts', "import { imported } from './db/index.js';"],
	['src/config.ts', "import { imported } from './archive/index.js';"],
	['src/config.ts', "import { imported } from 'discord.js';"],
	['src/emulator/planted.ts', "import { imported } from '../core/index.js';"],
	['src/emulator/planted.ts', "import { imported } from '../archive/index.js';"]
];

const right: [file: string, source: string][] = [
	['src/archive/planted.ts', "import { imported } from '../core/index.js';"],
	['src/archive/planted.ts', "import { imported } from '../db/index.js';"],
	['src/bot/planted.ts', "import { imported } from '../archive/index.js';"],
	['src/cli/planted.ts', "import { imported } from '../archive/index.js';"],
	['src/cli/planted.ts', "import { imported } from '../emulator/index.js';"],
	['src/config.ts', "import { imported } from './core/index.js';"],
	['src/cli/commands/sandbox.ts', "import { imported } from '../../bot/client.js';"]
];

describe('layer direction (lint)', () => {
	it.each(wrong)('refuses in %s: %s', async (file, source) => {
		expect(await restricted(file, source)).not.toEqual([]);
	});

	it.each(right)('allows in %s: %s', async (file, source) => {
		expect(await restricted(file, source)).toEqual([]);
	});
});
