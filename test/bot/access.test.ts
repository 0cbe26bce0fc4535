import { describe, expect, it } from 'vitest';
import { AccessLevel, ArchiveAction, levelOf, mayRun, refusalOf, requiredLevel } from '../../src/bot/lib/access.js';

const policy = { ownerIds: ['100000000000000001'], allowedRoleIds: ['200000000000000002'] };
const owner = { userId: '100000000000000001', roleIds: [] };
const member = { userId: '100000000000000003', roleIds: ['200000000000000002'] };
const outsider = { userId: '100000000000000004', roleIds: ['200000000000000009'] };
const destructive = [
	ArchiveAction.Upload,
	ArchiveAction.Resume,
	ArchiveAction.Cleanup,
	ArchiveAction.Rebuild,
	ArchiveAction.Migrate,
	ArchiveAction.Cancel,
	ArchiveAction.Delete
];
const harmless = [ArchiveAction.Download, ArchiveAction.Verify, ArchiveAction.Status, ArchiveAction.List, ArchiveAction.Find, ArchiveAction.Help];

describe('access rules', () => {
	it('GIVEN every action WHEN looking up its level THEN the destructive ones need an owner and the rest an allowed role', () => {
		expect(Object.keys(requiredLevel).sort()).toEqual(Object.values(ArchiveAction).sort());
		for (const action of destructive) expect(requiredLevel[action]).toBe(AccessLevel.Owner);
		for (const action of harmless) expect(requiredLevel[action]).toBe(AccessLevel.Allowed);
	});

	it('GIVEN an owner WHEN asking for any action THEN it is allowed', () => {
		expect(levelOf(policy, owner)).toBe(AccessLevel.Owner);
		for (const action of Object.values(ArchiveAction)) expect(mayRun(policy, owner, action)).toBe(true);
	});

	it('GIVEN a member of an allowed role WHEN asking THEN only the harmless actions are allowed', () => {
		expect(levelOf(policy, member)).toBe(AccessLevel.Allowed);
		for (const action of harmless) expect(mayRun(policy, member, action)).toBe(true);
		for (const action of destructive) expect(mayRun(policy, member, action)).toBe(false);
	});

	it('GIVEN an outsider WHEN asking for anything THEN everything is refused', () => {
		expect(levelOf(policy, outsider)).toBeNull();
		for (const action of Object.values(ArchiveAction)) expect(mayRun(policy, outsider, action)).toBe(false);
	});

	it('GIVEN no allowed roles configured WHEN a member with roles asks THEN it is refused', () => {
		expect(mayRun({ ownerIds: policy.ownerIds, allowedRoleIds: [] }, member, ArchiveAction.List)).toBe(false);
	});

	it('GIVEN a refusal WHEN phrased THEN it is one sentence naming who may', () => {
		expect(refusalOf(ArchiveAction.Cleanup)).toBe("Only the bot's owners may delete archives.");
		expect(refusalOf(ArchiveAction.List)).toMatch(/^Only the bot's owners and members of its allowed roles may list archives\.$/);
	});
});
