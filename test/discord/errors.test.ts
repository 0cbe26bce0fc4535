import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { TransportError, TransportErrorCode, fromRestError, isNetworkError, isTransportError } from '../../src/discord/errors.js';

const token = 'MTIz.secret-token-value.abc';
const context = { action: 'post chunk a.bin into thread 1234', channelId: '1234' };

function apiError(status: number, code: number, message: string): DiscordAPIError {
	return new DiscordAPIError({ code, message }, code, status, 'POST', 'http://127.0.0.1:1/api/v10/channels/1234/messages', {
		body: undefined,
		files: undefined
	});
}

function mapped(error: unknown): TransportError {
	const result = fromRestError(error, context);
	expect(result).toBeInstanceOf(TransportError);
	const transportError = result as TransportError;
	expect(transportError.message).not.toContain(token);
	return transportError;
}

describe('fromRestError', () => {
	it.each([
		[413, 40005, TransportErrorCode.AttachmentTooLarge],
		[403, 50013, TransportErrorCode.MissingPermissions],
		[403, 50001, TransportErrorCode.MissingPermissions],
		[404, 10003, TransportErrorCode.NotFound],
		[404, 10008, TransportErrorCode.NotFound],
		[401, 0, TransportErrorCode.InvalidToken],
		[400, 50083, TransportErrorCode.ThreadArchived],
		[400, 160006, TransportErrorCode.TooManyActiveThreads],
		[400, 50035, TransportErrorCode.RequestRejected]
	])('GIVEN Discord answers %i with code %i WHEN mapped THEN the code is %s, with status and Discord code', (status, code, expected) => {
		const error = mapped(apiError(status, code, 'Discord says no'));
		expect(error.code).toBe(expected);
		expect(error.status).toBe(status);
		expect(error.discordCode).toBe(code);
		expect(error.channelId).toBe('1234');
	});

	it('GIVEN missing permissions WHEN mapped THEN the message names the channel and what to grant', () => {
		const error = mapped(apiError(403, 50013, 'Missing Permissions'));
		expect(error.message).toContain('1234');
		expect(error.message).toContain('Attach Files');
	});

	it('GIVEN a 5xx the REST client gave up on WHEN mapped THEN it is DISCORD_UNAVAILABLE and retryable', () => {
		const error = mapped(
			new HTTPError(503, 'Service Unavailable', 'POST', 'http://127.0.0.1:1/api/v10/x', { body: undefined, files: undefined })
		);
		expect(error.code).toBe(TransportErrorCode.DiscordUnavailable);
		expect(error.retryable).toBe(true);
		expect(error.status).toBe(503);
	});

	it('GIVEN a rate limit longer than the transport waits WHEN mapped THEN it is RATE_LIMITED', () => {
		const limit = new RateLimitError({
			timeToReset: 600_000,
			limit: 5,
			method: 'POST',
			hash: 'h',
			url: 'http://127.0.0.1:1/api/v10/x',
			route: '/channels/:id/messages',
			majorParameter: '1234',
			global: false,
			retryAfter: 600_000,
			sublimitTimeout: 0,
			scope: 'user'
		});
		const error = mapped(limit);
		expect(error.code).toBe(TransportErrorCode.RateLimited);
		expect(error.message).toContain('600 s');
	});

	it('GIVEN a connection reset WHEN mapped THEN it is DISCORD_UNAVAILABLE and retryable', () => {
		const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
		const error = mapped(new TypeError('fetch failed', { cause: reset }));
		expect(error.code).toBe(TransportErrorCode.DiscordUnavailable);
		expect(error.retryable).toBe(true);
		expect(error.message).toContain('ECONNRESET');
	});

	it('GIVEN the caller aborted WHEN any error is mapped THEN it is ABORTED', () => {
		const controller = new AbortController();
		controller.abort();
		const abort = new DOMException('This operation was aborted', 'AbortError');
		expect(isTransportError(fromRestError(abort, context, controller.signal), TransportErrorCode.Aborted)).toBe(true);
	});

	it('GIVEN a programming error WHEN mapped THEN it is returned unchanged', () => {
		const bug = new TypeError('x is not a function');
		expect(fromRestError(bug, context)).toBe(bug);
	});
});

describe('isNetworkError', () => {
	it('GIVEN a request timeout (AbortError) WHEN the caller did not abort THEN it counts as a network failure', () => {
		expect(isNetworkError(new DOMException('aborted', 'AbortError'))).toBe(true);
		const controller = new AbortController();
		controller.abort();
		expect(isNetworkError(new DOMException('aborted', 'AbortError'), controller.signal)).toBe(false);
	});
});
