/**
 * The custom ids of the buttons the bot itself shows: the cleanup confirmation and `list` paging. The card
 * buttons `archive:<action>:<uid>` belong with the cards, in src/archive/card.ts. Discord allows 1–100
 * characters; each builder stays inside.
 */

/** Discord's bound on a custom id. */
export const CUSTOM_ID_MAX = 100;

const uidPattern = /^[0-9a-f]{32}$/;

/** The two answers of the cleanup confirmation. */
export type CleanupAnswer = 'confirm' | 'keep';

/** A cleanup confirmation button: the answer, the archive, and when the question stops being valid. */
export interface CleanupConfirmationId {
	readonly answer: CleanupAnswer;
	readonly uid: string;
	/** Milliseconds since the epoch; a click after it is refused. */
	readonly expiresAt: number;
}

/** `archive-cleanup:<answer>:<uid>:<expiry, base 36 ms>`. */
export function cleanupConfirmationId(answer: CleanupAnswer, uid: string, expiresAt: number): string {
	return `archive-cleanup:${answer}:${uid}:${Math.floor(expiresAt).toString(36)}`;
}

/** Reads a cleanup confirmation id, or `null`. */
export function parseCleanupConfirmationId(customId: string): CleanupConfirmationId | null {
	const parts = customId.split(':');
	if (parts.length !== 4 || parts[0] !== 'archive-cleanup') return null;
	const [, answer, uid, expiry] = parts as [string, string, string, string];
	if ((answer !== 'confirm' && answer !== 'keep') || !uidPattern.test(uid) || !/^[0-9a-z]{1,12}$/.test(expiry)) return null;
	const expiresAt = parseInt(expiry, 36);
	return Number.isSafeInteger(expiresAt) ? { answer, uid, expiresAt } : null;
}

/** A `list` page button: the page starts below this lot, with the same query. */
export interface ListPageId {
	/** The `nextBefore` of the previous page; `null` for the first page. */
	readonly before: number | null;
	readonly query: string;
}

const listPrefix = 'archive-list:';

/** `archive-list:<before|->:<query>`; the query is cut to keep the id within 100 characters. */
export function listPageId(before: number | null, query: string): string {
	const head = `${listPrefix}${before === null ? '-' : before.toString(10)}:`;
	return head + query.slice(0, CUSTOM_ID_MAX - head.length);
}

/** Reads a `list` page id, or `null`. The query may itself contain colons. */
export function parseListPageId(customId: string): ListPageId | null {
	if (!customId.startsWith(listPrefix)) return null;
	const rest = customId.slice(listPrefix.length);
	const colon = rest.indexOf(':');
	if (colon < 0) return null;
	const before = rest.slice(0, colon);
	if (before !== '-' && !/^\d{1,15}$/.test(before)) return null;
	return { before: before === '-' ? null : Number(before), query: rest.slice(colon + 1) };
}
