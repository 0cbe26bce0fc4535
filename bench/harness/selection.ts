/**
 * Which suites a command line asks for: `npm run bench` runs all, `npm run bench -- core emulator` runs those.
 * Unknown names are an error that lists the known ones.
 */
export function selectSuites(args: readonly string[], available: readonly string[]): { suites: string[] } | { error: string } {
	const names = args.filter((arg) => !arg.startsWith('-'));
	if (names.length === 0) return { suites: [...available] };
	const unknown = names.filter((name) => !available.includes(name));
	if (unknown.length > 0) return { error: `Unknown suite(s): ${unknown.join(', ')}. Known suites: ${available.join(', ') || 'none'}.` };
	return { suites: [...new Set(names)] };
}
