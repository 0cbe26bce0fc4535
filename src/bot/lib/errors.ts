import { CodedError } from '../../core/errors.js';

/**
 * The bot's own error class: conditions only the bot can meet (a refused person, an expired confirmation, an
 * option Discord let through but the bot cannot use). Stable codes, messages that say what to do.
 */
export const BotErrorCode = {
	/** The person may not do this (OWNER_IDS / ALLOWED_ROLE_IDS). */
	Refused: 'REFUSED',
	/** A confirmation button clicked after it expired. */
	ConfirmationExpired: 'CONFIRMATION_EXPIRED',
	/** A button or option names an archive the index does not hold. */
	UnknownArchive: 'UNKNOWN_ARCHIVE',
	/** An option value the bot cannot use. */
	InvalidOption: 'INVALID_OPTION',
	/** The command was used outside a server. */
	GuildOnly: 'GUILD_ONLY'
} as const;
export type BotErrorCode = (typeof BotErrorCode)[keyof typeof BotErrorCode];

/** The bot's error: a {@link CodedError} with the codes of {@link BotErrorCode} and no details. */
export class BotError extends CodedError<BotErrorCode> {
	public constructor(code: BotErrorCode, message: string, options?: ErrorOptions) {
		super(code, message, {}, options);
	}
}

export function isBotError(error: unknown, code?: BotErrorCode): error is BotError {
	return error instanceof BotError && (code === undefined || error.code === code);
}

/** The `dos` commands that have a slash command, and that command: how the bot names what a CLI message suggests. */
const slashCommands: Readonly<Record<string, string>> = {
	'dos index rebuild': '/archive rebuild',
	'dos upload': '/archive upload',
	'dos download': '/archive download',
	'dos resume': '/archive resume',
	'dos verify': '/archive verify',
	'dos cleanup': '/archive cleanup',
	'dos status': '/archive status',
	'dos list': '/archive list',
	'dos find': '/archive find'
};

/**
 * A message of a lower layer as the bot's face says it: every `dos …` command that has a slash command is named by
 * it (the CLI maps the other way, src/cli/failure.ts). Commands only the CLI has (`dos index restore`) stay.
 */
export function inBotTerms(text: string): string {
	return text.replace(
		/\bdos (index rebuild|upload|download|resume|verify|cleanup|status|list|find)\b/g,
		(command) => slashCommands[command] ?? command
	);
}
