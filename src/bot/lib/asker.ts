import { container } from '@sapphire/framework';
import { GuildMember, type Interaction } from 'discord.js';
import { type ArchiveAction, type Asker, mayRun, refusalOf } from './access.js';
import { BotError, BotErrorCode } from './errors.js';

/** The person behind an interaction, with the roles they hold in the guild (none outside a guild). */
export function askerOf(interaction: Interaction): Asker {
	const { member } = interaction;
	let roleIds: readonly string[] = [];
	if (member instanceof GuildMember) roleIds = [...member.roles.cache.keys()];
	else if (member !== null && Array.isArray(member.roles)) roleIds = member.roles;
	return { userId: interaction.user.id, roleIds };
}

/** Whether the person behind the interaction may start the action (the configured OWNER_IDS / ALLOWED_ROLE_IDS). */
export function interactionMayRun(interaction: Interaction, action: ArchiveAction): boolean {
	if (interaction.guildId === null) return false;
	return mayRun(container.dos.access, askerOf(interaction), action);
}

/**
 * The same check as the `ArchiveAccess` precondition, for buttons (which Sapphire's preconditions do not cover).
 *
 * @throws {BotError} REFUSED with the one sentence the person reads.
 */
export function assertMayRun(interaction: Interaction, action: ArchiveAction): void {
	if (!interactionMayRun(interaction, action)) throw new BotError(BotErrorCode.Refused, refusalOf(action));
}
