/**
 * Errors of the emulator itself (bad options, a data directory it cannot use, a control request that
 * makes no sense). Each carries a stable `code`; the message says what to do.
 */
export const EmulatorErrorCode = {
	/** An option is out of range or of the wrong type. */
	InvalidOption: 'EMULATOR_INVALID_OPTION',
	/** The data directory cannot be created, read or written, or holds a world file it cannot read. */
	DataDir: 'EMULATOR_DATA_DIR',
	/** The port is taken or cannot be bound. */
	Listen: 'EMULATOR_LISTEN',
	/** A control request names something that does not exist or is malformed. */
	BadControlRequest: 'EMULATOR_BAD_CONTROL_REQUEST',
	/** A control request names a user, channel, message, command or interaction that does not exist. */
	NotFound: 'EMULATOR_NOT_FOUND'
} as const;

export type EmulatorErrorCode = (typeof EmulatorErrorCode)[keyof typeof EmulatorErrorCode];

export class EmulatorError extends Error {
	public readonly code: EmulatorErrorCode;

	public constructor(code: EmulatorErrorCode, message: string, options?: ErrorOptions) {
		super(message, options);
		this.name = 'EmulatorError';
		this.code = code;
	}
}

/** Discord's JSON error codes the emulator answers with (a subset of RESTJSONErrorCodes). */
export const DiscordErrorCode = {
	General: 0,
	UnknownChannel: 10003,
	UnknownGuild: 10004,
	UnknownMember: 10007,
	UnknownMessage: 10008,
	UnknownUser: 10013,
	UnknownWebhook: 10015,
	UnknownInteraction: 10062,
	UnknownApplicationCommand: 10063,
	MaximumPins: 30003,
	MaximumAttachments: 30015,
	Unauthorized: 40001,
	RequestEntityTooLarge: 40005,
	InteractionAlreadyAcknowledged: 40060,
	MissingAccess: 50001,
	CannotSendEmptyMessage: 50006,
	CannotEditOtherUsersMessage: 50005,
	MissingPermissions: 50013,
	CannotExecuteOnChannelType: 50024,
	InvalidWebhookToken: 50027,
	InvalidFormBody: 50035,
	InvalidActionOnArchivedThread: 50083,
	ThreadAlreadyCreatedForMessage: 160004,
	ThreadLocked: 160005,
	MaximumActiveThreads: 160006
} as const;

/** The `errors` tree of a 50035 body: `{ field: { 0: { sub: { _errors: [...] } } } }`. */
export interface FormErrorTree {
	[key: string]: FormErrorTree | { code: string; message: string }[];
}

/**
 * A refusal in Discord's own words: HTTP status, JSON `code`, `message`, and for 50035 the `errors` tree.
 * Thrown by route handlers; the server turns it into the response body Discord would send.
 */
export class DiscordApiError extends Error {
	public readonly status: number;
	public readonly code: number;
	public readonly errors: FormErrorTree | undefined;

	public constructor(status: number, code: number, message: string, errors?: FormErrorTree) {
		super(message);
		this.name = 'DiscordApiError';
		this.status = status;
		this.code = code;
		this.errors = errors;
	}

	/** The JSON body Discord sends with this error. */
	public toBody(): Record<string, unknown> {
		return this.errors ? { message: this.message, code: this.code, errors: this.errors } : { message: this.message, code: this.code };
	}
}

/** One field problem of an Invalid Form Body answer, addressed by its path (`['embeds', 0, 'title']`). */
export interface FormProblem {
	readonly path: readonly (string | number)[];
	readonly code: string;
	readonly message: string;
}

/** A 400/50035 "Invalid Form Body" with Discord's nested `errors` tree built from the problems found. */
export function invalidFormBody(problems: readonly FormProblem[]): DiscordApiError {
	const tree: FormErrorTree = {};
	for (const problem of problems) {
		let node: FormErrorTree = tree;
		for (const key of problem.path) {
			const name = String(key);
			const next = node[name];
			if (next === undefined || Array.isArray(next)) {
				const created: FormErrorTree = {};
				node[name] = created;
				node = created;
			} else {
				node = next;
			}
		}
		const list = node._errors;
		if (Array.isArray(list)) list.push({ code: problem.code, message: problem.message });
		else node._errors = [{ code: problem.code, message: problem.message }];
	}
	return new DiscordApiError(400, DiscordErrorCode.InvalidFormBody, 'Invalid Form Body', tree);
}

/** Discord's answers for the common refusals, so every route words them the same way. */
export const DiscordRefusal = {
	unknownChannel: () => new DiscordApiError(404, DiscordErrorCode.UnknownChannel, 'Unknown Channel'),
	unknownMessage: () => new DiscordApiError(404, DiscordErrorCode.UnknownMessage, 'Unknown Message'),
	unknownGuild: () => new DiscordApiError(404, DiscordErrorCode.UnknownGuild, 'Unknown Guild'),
	unknownMember: () => new DiscordApiError(404, DiscordErrorCode.UnknownMember, 'Unknown Member'),
	unknownUser: () => new DiscordApiError(404, DiscordErrorCode.UnknownUser, 'Unknown User'),
	unknownWebhook: () => new DiscordApiError(404, DiscordErrorCode.UnknownWebhook, 'Unknown Webhook'),
	unknownInteraction: () => new DiscordApiError(404, DiscordErrorCode.UnknownInteraction, 'Unknown interaction'),
	unknownCommand: () => new DiscordApiError(404, DiscordErrorCode.UnknownApplicationCommand, 'Unknown application command'),
	alreadyAcknowledged: () =>
		new DiscordApiError(400, DiscordErrorCode.InteractionAlreadyAcknowledged, 'Interaction has already been acknowledged.'),
	invalidWebhookToken: () => new DiscordApiError(401, DiscordErrorCode.InvalidWebhookToken, 'Invalid Webhook Token'),
	missingPermissions: () => new DiscordApiError(403, DiscordErrorCode.MissingPermissions, 'Missing Permissions'),
	missingAccess: () => new DiscordApiError(403, DiscordErrorCode.MissingAccess, 'Missing Access'),
	unauthorized: () => new DiscordApiError(401, DiscordErrorCode.General, '401: Unauthorized'),
	notFound: () => new DiscordApiError(404, DiscordErrorCode.General, '404: Not Found'),
	methodNotAllowed: () => new DiscordApiError(405, DiscordErrorCode.General, '405: Method Not Allowed'),
	entityTooLarge: () => new DiscordApiError(413, DiscordErrorCode.RequestEntityTooLarge, 'Request entity too large'),
	emptyMessage: () => new DiscordApiError(400, DiscordErrorCode.CannotSendEmptyMessage, 'Cannot send an empty message'),
	cannotEditOthers: () => new DiscordApiError(403, DiscordErrorCode.CannotEditOtherUsersMessage, 'Cannot edit a message authored by another user'),
	archivedThread: () => new DiscordApiError(400, DiscordErrorCode.InvalidActionOnArchivedThread, 'Thread is archived'),
	threadLocked: () => new DiscordApiError(400, DiscordErrorCode.ThreadLocked, 'Thread is locked'),
	maxActiveThreads: () => new DiscordApiError(400, DiscordErrorCode.MaximumActiveThreads, 'Maximum number of active threads reached'),
	threadAlreadyCreated: () =>
		new DiscordApiError(400, DiscordErrorCode.ThreadAlreadyCreatedForMessage, 'A thread has already been created for this message'),
	wrongChannelType: () => new DiscordApiError(400, DiscordErrorCode.CannotExecuteOnChannelType, 'Cannot execute action on this channel type'),
	maxPins: (max: number) => new DiscordApiError(400, DiscordErrorCode.MaximumPins, `Maximum number of pins reached (${max})`),
	maxAttachments: (max: number) =>
		new DiscordApiError(400, DiscordErrorCode.MaximumAttachments, `Maximum number of attachments in a message reached (${max})`)
} as const;
