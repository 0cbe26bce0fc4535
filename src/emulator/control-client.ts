import type { EmulatorStats } from './control.js';
import type { InteractionRequest, InteractionView } from './interactions.js';
import type { ControlMessage } from './payloads.js';

/**
 * A client of the emulator's control API (`/_emu`): act as a user (slash commands, autocomplete, buttons), read a
 * channel, the limits and the stats. It knows Discord's shapes only; what a message means to an application is the
 * caller's business (see {@link ControlClient.waitForMessage}).
 */
export class ControlClient {
	readonly #base: string;

	/** @param base The control URL, e.g. `http://127.0.0.1:PORT/_emu`. */
	public constructor(base: string) {
		this.#base = base.replace(/\/+$/, '');
	}

	/** Starts an interaction as a user; returns its id. @throws Error with the emulator's message when it refuses the request. */
	public async interact(request: InteractionRequest): Promise<string> {
		const { id } = await this.#call<{ id: string }>('POST', '/interactions', request);
		return id;
	}

	/** The interaction as it stands, waiting up to `waitMs` for its first answer. */
	public async interaction(id: string, waitMs = 0): Promise<InteractionView> {
		return this.#call<InteractionView>('GET', `/interactions/${id}?wait=${waitMs}`);
	}

	/**
	 * Runs an interaction and waits until the bot's answer satisfies `done` (by default: an autocomplete answered, or
	 * a reply with content, embeds or a follow-up — a deferral alone is not an answer).
	 *
	 * @throws Error when the interaction expires unanswered or `timeoutMs` passes.
	 */
	public async run(
		request: InteractionRequest,
		options: { timeoutMs?: number; done?: (view: InteractionView) => boolean } = {}
	): Promise<InteractionView> {
		const id = await this.interact(request);
		const done = options.done ?? answered;
		const deadline = Date.now() + (options.timeoutMs ?? 30_000);
		let view = await this.interaction(id, 5_000);
		while (!done(view)) {
			if (view.status === 'expired') throw new Error(`The bot did not answer ${describeRequest(request)} within Discord's 3 s window.`);
			if (Date.now() > deadline)
				throw new Error(
					`The bot's answer to ${describeRequest(request)} did not come in time (last: ${JSON.stringify(view.reply?.content ?? null)}).`
				);
			await delay(150);
			view = await this.interaction(id);
		}
		return view;
	}

	/** Every message of a channel or thread, oldest first. */
	public async messages(channelId: string): Promise<ControlMessage[]> {
		return this.#call<ControlMessage[]>('GET', `/channels/${channelId}/messages`);
	}

	/** The newest message of a channel that `pick` maps to a value, with that value; null when none does. */
	public async findMessage<T>(
		channelId: string,
		pick: (message: ControlMessage) => T | null
	): Promise<{ message: ControlMessage; value: T } | null> {
		for (const message of (await this.messages(channelId)).reverse()) {
			const value = pick(message);
			if (value !== null) return { message, value };
		}
		return null;
	}

	/**
	 * Polls a channel until the newest message `pick` maps to a value satisfies `done`.
	 *
	 * @param describe Names what was awaited and its last state, for the error.
	 * @throws Error after `timeoutMs`.
	 */
	public async waitForMessage<T>(
		channelId: string,
		pick: (message: ControlMessage) => T | null,
		done: (value: T, message: ControlMessage) => boolean,
		describe: (last: { message: ControlMessage; value: T } | null) => string,
		timeoutMs = 60_000
	): Promise<{ message: ControlMessage; value: T }> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const found = await this.findMessage(channelId, pick);
			if (found && done(found.value, found.message)) return found;
			if (Date.now() > deadline) throw new Error(describe(found));
			await delay(200);
		}
	}

	public async stats(): Promise<EmulatorStats> {
		return this.#call('GET', '/stats');
	}

	public async setLimits(patch: Record<string, number>): Promise<Record<string, number>> {
		return this.#call('PUT', '/limits', patch);
	}

	async #call<T>(method: string, route: string, body?: unknown): Promise<T> {
		const response = await fetch(`${this.#base}${route}`, {
			method,
			...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
		});
		const text = await response.text();
		if (!response.ok) throw new Error(`${method} /_emu${route}: ${response.status} ${text}`);
		return (text === '' ? undefined : JSON.parse(text)) as T;
	}
}

/** Whether the bot has answered: autocomplete choices, or a reply or follow-up with something in it. */
export function answered(view: InteractionView): boolean {
	if (view.kind === 'autocomplete') return view.choices !== null;
	const hasBody = (message: ControlMessage | null) => message !== null && (message.content !== '' || message.embeds.length > 0);
	return hasBody(view.reply) || view.followups.length > 0 || view.responseType === 7;
}

function describeRequest(request: InteractionRequest): string {
	if (request.kind === 'button') return `the button ${request.customId ?? ''}`;
	return `/${request.command ?? ''}${request.subcommand === undefined ? '' : ` ${request.subcommand}`}`;
}

function delay(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}
