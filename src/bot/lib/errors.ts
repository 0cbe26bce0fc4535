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

export class BotError extends Error {
	public readonly code: BotErrorCode;

	public constructor(code: BotErrorCode, message: string, options?: ErrorOptions) {
		super(message, options);
		this.name = 'BotError';
		this.code = code;
	}
}

export function isBotError(error: unknown, code?: BotErrorCode): error is BotError {
	return error instanceof BotError && (code === undefined || error.code === code);
}
