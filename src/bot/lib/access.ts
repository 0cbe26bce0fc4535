/**
 * Who may do what with `/archive` and the card buttons (docs/design.md §5): owners (OWNER_IDS) everything, members of
 * the allowed roles (ALLOWED_ROLE_IDS) only what cannot lose, change or expose an archive. Every command,
 * button and autocomplete asks here, so the rules live in one table.
 */

/** The level an action needs. */
export const AccessLevel = {
	/** Listed in OWNER_IDS. */
	Owner: 'owner',
	/** An owner, or a member holding one of ALLOWED_ROLE_IDS. */
	Allowed: 'allowed'
} as const;
export type AccessLevel = (typeof AccessLevel)[keyof typeof AccessLevel];

/** Every action a person can start: the subcommands of `/archive` and the card buttons. */
export const ArchiveAction = {
	Upload: 'upload',
	Download: 'download',
	Resume: 'resume',
	Verify: 'verify',
	Cleanup: 'cleanup',
	Status: 'status',
	List: 'list',
	Find: 'find',
	Rebuild: 'rebuild',
	Help: 'help',
	Migrate: 'migrate',
	Cancel: 'cancel',
	Delete: 'delete'
} as const;
export type ArchiveAction = (typeof ArchiveAction)[keyof typeof ArchiveAction];

/**
 * The level each action needs. Upload reads the host's disk and publishes it, resume and cancel steer jobs,
 * cleanup/delete and rebuild change or drop archives: owners only. Reading (status, list, find), verifying and
 * downloading into the download root (never over existing files) lose nothing, nor does reading the help: allowed roles too.
 */
export const requiredLevel: Readonly<Record<ArchiveAction, AccessLevel>> = {
	upload: AccessLevel.Owner,
	resume: AccessLevel.Owner,
	cleanup: AccessLevel.Owner,
	rebuild: AccessLevel.Owner,
	migrate: AccessLevel.Owner,
	cancel: AccessLevel.Owner,
	delete: AccessLevel.Owner,
	download: AccessLevel.Allowed,
	verify: AccessLevel.Allowed,
	status: AccessLevel.Allowed,
	list: AccessLevel.Allowed,
	find: AccessLevel.Allowed,
	help: AccessLevel.Allowed
};

/** The run-time access rules, from the configuration. */
export interface AccessPolicy {
	readonly ownerIds: readonly string[];
	readonly allowedRoleIds: readonly string[];
}

/** The person asking: their user id and the role ids they hold in the guild. */
export interface Asker {
	readonly userId: string;
	readonly roleIds: readonly string[];
}

/** The highest level the asker holds, or `null` when they hold none. */
export function levelOf(policy: AccessPolicy, asker: Asker): AccessLevel | null {
	if (policy.ownerIds.includes(asker.userId)) return AccessLevel.Owner;
	if (asker.roleIds.some((role) => policy.allowedRoleIds.includes(role))) return AccessLevel.Allowed;
	return null;
}

/** Whether the asker may start the action. */
export function mayRun(policy: AccessPolicy, asker: Asker, action: ArchiveAction): boolean {
	const held = levelOf(policy, asker);
	if (held === null) return false;
	return held === AccessLevel.Owner || requiredLevel[action] === AccessLevel.Allowed;
}

/** The one sentence a refused person reads. */
export function refusalOf(action: ArchiveAction): string {
	return requiredLevel[action] === AccessLevel.Owner
		? `Only the bot's owners may ${actionPhrase[action]}.`
		: `Only the bot's owners and members of its allowed roles may ${actionPhrase[action]}.`;
}

const actionPhrase: Readonly<Record<ArchiveAction, string>> = {
	upload: 'upload archives',
	download: 'download archives',
	resume: 'resume archives',
	verify: 'verify archives',
	cleanup: 'delete archives',
	status: 'see the archive status',
	list: 'list archives',
	find: 'search archives',
	rebuild: 'rebuild the index',
	help: 'see the archive help',
	migrate: 'migrate archives of the original tool',
	cancel: 'cancel archive jobs',
	delete: 'delete archives'
};
