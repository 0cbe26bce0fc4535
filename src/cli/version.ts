import { readFileSync } from 'node:fs';

/** The package version, for `--version` and the manifest's `tool` field. */
export function toolVersion(): string {
	try {
		const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
		return pkg.version ?? '0.0.0';
	} catch {
		return '0.0.0';
	}
}
