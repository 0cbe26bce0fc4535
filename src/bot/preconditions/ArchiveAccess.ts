import { Precondition } from '@sapphire/framework';
import type { ChatInputCommandInteraction } from 'discord.js';
import { type ArchiveAction, refusalOf } from '../lib/access.js';
import { interactionMayRun } from '../lib/asker.js';
import { BotErrorCode } from '../lib/errors.js';

/** What each use of the precondition says: the action it guards. */
export interface ArchiveAccessContext extends Precondition.Context {
	readonly action: ArchiveAction;
}

/** Owners (OWNER_IDS) for everything, allowed roles (ALLOWED_ROLE_IDS) for what loses nothing; see lib/access.ts. */
export class ArchiveAccessPrecondition extends Precondition {
	public override chatInputRun(interaction: ChatInputCommandInteraction, _command: unknown, context: ArchiveAccessContext): Precondition.Result {
		return interactionMayRun(interaction, context.action)
			? this.ok()
			: this.error({ identifier: BotErrorCode.Refused, message: refusalOf(context.action), context });
	}
}

declare module '@sapphire/framework' {
	interface Preconditions {
		ArchiveAccess: { action: ArchiveAction };
	}
}
