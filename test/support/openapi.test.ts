import { describe, expect, it } from 'vitest';
import { OpenApiSpec } from './openapi.js';

const spec = new OpenApiSpec();

describe('OpenApiSpec', () => {
	it('GIVEN a user as Discord sends it WHEN checked THEN it conforms; WHEN a required field is missing or mistyped THEN the field is named', () => {
		const user = {
			id: '1100000000000000001',
			username: 'someone',
			global_name: null,
			discriminator: '0',
			avatar: null,
			public_flags: 0,
			flags: 0,
			avatar_decoration_data: null,
			collectibles: null,
			display_name_styles: null,
			primary_guild: null
		};
		const check = spec.component('UserResponse');
		expect(check(user)).toEqual([]);
		const { username: _dropped, ...withoutName } = user;
		expect(check(withoutName).join('\n')).toMatch(/username/);
		expect(check({ ...user, id: 1100 }).join('\n')).toMatch(/\.id/);
		expect(check({ ...user, id: '01' }).join('\n')).toMatch(/\.id/);
		expect(check({ ...user, public_flags: 2 ** 40 }).join('\n')).toMatch(/public_flags/);
	});

	it('GIVEN errors WHEN checked against a route THEN 4xx bodies need code and message, and 429 bodies need retry_after and global', () => {
		const route = { method: 'GET', path: '/channels/{channel_id}' } as const;
		expect(spec.problems({ ...route, status: 404, body: { message: 'Unknown Channel', code: 10003 } })).toEqual([]);
		expect(spec.problems({ ...route, status: 404, body: { message: 'Unknown Channel' } }).join('\n')).toMatch(/code/);
		expect(
			spec.problems({
				...route,
				status: 400,
				body: { message: 'Invalid Form Body', code: 50035, errors: { name: { _errors: [{ code: 1, message: 'x' }] } } }
			})
		).toEqual([]);
		expect(spec.problems({ ...route, status: 400, body: { message: 'm', code: 50035, errors: { name: { _errors: 'no' } } } })).not.toEqual([]);
		expect(spec.problems({ ...route, status: 429, body: { message: 'slow', code: 0, retry_after: 1.5, global: false } })).toEqual([]);
		expect(spec.problems({ ...route, status: 429, body: { message: 'slow', code: 0, retry_after: 1.5 } }).join('\n')).toMatch(/global/);
	});

	it('GIVEN a 204 or a closed object WHEN a body appears where none is documented, or an undeclared property where none is allowed THEN it fails', () => {
		const route = { method: 'DELETE', path: '/channels/{channel_id}/messages/{message_id}' } as const;
		expect(spec.problems({ ...route, status: 204, body: undefined })).toEqual([]);
		expect(spec.problems({ ...route, status: 204, body: {} })).not.toEqual([]);
		const inner = spec.component('InnerErrors');
		expect(inner({ _errors: [] })).toEqual([]);
		expect(inner({ _errors: [], extra: 1 }).join('\n')).toMatch(/additional/);
	});

	it('GIVEN a schema with a keyword or format the validator does not know WHEN used THEN it refuses instead of passing everything', () => {
		const strange = new OpenApiSpec({
			paths: {},
			components: { schemas: { Odd: { type: 'string', patternish: 'x' }, Fmt: { type: 'string', format: 'colour' } } }
		});
		expect(() => strange.component('Odd')).toThrow(/patternish/);
		expect(() => strange.component('Fmt')).toThrow(/colour/);
	});

	it('GIVEN the spec formats WHEN values are checked THEN int32, snowflake and date-time are enforced', () => {
		const formats = new OpenApiSpec({
			paths: {},
			components: {
				schemas: {
					Small: { type: 'integer', format: 'int32' },
					When: { type: 'string', format: 'date-time' },
					Id: { $ref: '#/components/schemas/Snowflake' },
					Snowflake: { type: 'string', format: 'snowflake' }
				}
			}
		});
		expect(formats.component('Small')(2 ** 31 - 1)).toEqual([]);
		expect(formats.component('Small')(2 ** 31)).not.toEqual([]);
		expect(formats.component('When')('2026-12-05T11:00:00.000Z')).toEqual([]);
		expect(formats.component('When')('yesterday')).not.toEqual([]);
		expect(formats.component('Id')('1100000000000000001')).toEqual([]);
		expect(formats.component('Id')('11a')).not.toEqual([]);
	});

	it('GIVEN a route or status the spec does not document WHEN asked THEN it says so instead of passing', () => {
		expect(() => spec.problems({ method: 'GET', path: '/nowhere', status: 200, body: {} })).toThrow(/no GET \/nowhere/);
		expect(() => spec.component('NoSuchSchema')).toThrow(/NoSuchSchema/);
	});
});
