/**
 * Turning what a user typed into an FTS5 query over the trigram-tokenized tables (entries_fts, archives_fts).
 * Each whitespace-separated term of 3+ characters becomes a quoted phrase, which the trigram tokenizer
 * serves as a substring match from the index; all terms must match. Shorter terms cannot use a trigram
 * index: they are returned apart, for the caller to apply as a LIKE filter on rows the long terms found.
 * A query made only of short terms but 3+ characters long in all ("ve 名前") is matched as one substring.
 */

/** The smallest term the trigram index can serve. */
export const minimumTermLength = 3;

export interface SearchTerms {
	/** The FTS5 MATCH expression, or null when no term is long enough. */
	readonly match: string | null;
	/** Terms shorter than {@link minimumTermLength}, to filter with LIKE. */
	readonly shortTerms: readonly string[];
}

/**
 * What a person typed, fit to search: NFC, and every control character (NUL, escape, newline…) turned into a space.
 * No archived name holds one, and FTS5 cannot parse a NUL inside a phrase ("unterminated string").
 */
export function cleanSearchText(input: string): string {
	return input
		.normalize('NFC')
		.replace(/\p{Cc}/gu, ' ')
		.trim();
}

/** Splits `input` into FTS5 phrases restricted to `columns`, and short terms. */
export function searchTerms(input: string, columns: readonly string[]): SearchTerms {
	const terms = cleanSearchText(input)
		.split(/\s+/u)
		.filter((term) => term.length > 0);
	let long = terms.filter((term) => Array.from(term).length >= minimumTermLength);
	let shortTerms = terms.filter((term) => Array.from(term).length < minimumTermLength);
	// Only short terms (e.g. two-character CJK words, "ve 名前"): match the whole query as one substring.
	const whole = terms.join(' ');
	if (long.length === 0 && Array.from(whole).length >= minimumTermLength) {
		long = [whole];
		shortTerms = [];
	}
	const filter = `{${columns.join(' ')}}`;
	const match = long.length === 0 ? null : long.map((term) => `${filter} : "${term.replaceAll('"', '""')}"`).join(' AND ');
	return { match, shortTerms };
}

/** A LIKE pattern matching `term` anywhere, with `%`, `_` and `\` escaped (use with `ESCAPE '\'`). */
export function containsPattern(term: string): string {
	return `%${term.replace(/[\\%_]/gu, (character) => `\\${character}`)}%`;
}
