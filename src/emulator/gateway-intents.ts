/** Gateway intent bits that gate the dispatches the emulator sends (0 = always sent). */
export const GatewayIntent = {
	Always: 0,
	Guilds: 1 << 0,
	GuildMembers: 1 << 1,
	GuildMessages: 1 << 9
} as const;
