/** Discord permission bits the emulator computes with. */
export const Permission = {
	Administrator: 1n << 3n,
	ManageChannels: 1n << 4n,
	ManageGuild: 1n << 5n,
	AddReactions: 1n << 6n,
	ViewChannel: 1n << 10n,
	SendMessages: 1n << 11n,
	ManageMessages: 1n << 13n,
	EmbedLinks: 1n << 14n,
	AttachFiles: 1n << 15n,
	ReadMessageHistory: 1n << 16n,
	UseApplicationCommands: 1n << 31n,
	ManageThreads: 1n << 34n,
	CreatePublicThreads: 1n << 35n,
	CreatePrivateThreads: 1n << 36n,
	SendMessagesInThreads: 1n << 38n,
	/** Pinning, split from Manage Messages in 2025 (which still grants it while Discord phases it out). */
	PinMessages: 1n << 51n
} as const;

/** Every permission bit Discord defines today (what a guild owner or an administrator holds). */
export const ALL_PERMISSIONS = (1n << 53n) - 1n;

/** What revoking the bot's access to a channel denies. */
export const REVOKED_BOT_PERMISSIONS =
	Permission.ViewChannel |
	Permission.SendMessages |
	Permission.SendMessagesInThreads |
	Permission.AttachFiles |
	Permission.EmbedLinks |
	Permission.ReadMessageHistory |
	Permission.ManageMessages |
	Permission.PinMessages |
	Permission.ManageThreads |
	Permission.CreatePublicThreads;
