import { readMessageBody } from '../body.js';
import type { Reply, RestContext, RestRoute } from '../emulation.js';
import { reply } from '../emulation.js';
import { DiscordRefusal, invalidFormBody } from '../errors.js';
import type { InteractionRecord } from '../interactions.js';
import { CallbackType, InteractionType } from '../interactions.js';
import { MessageFlag, MessageType, deleteMessage, editMessage, postMessage } from '../messaging.js';
import { checkAutocompleteChoices, checkMessageFields } from '../rules.js';
import type { StoredMessage } from '../world.js';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Interaction callbacks and the interaction webhook (`@original`, follow-ups). */
export const interactionRoutes: RestRoute[] = [
	{ method: 'POST', pattern: '/interactions/:interaction/:token/callback', auth: false, rateLimited: false, handler: callback },
	webhook('POST', '/webhooks/:application/:token', async (context, record) => {
		const { emu } = context;
		if (record.status !== 'acknowledged' || record.responseType === CallbackType.AutocompleteResult) {
			await drainBody(context);
			throw DiscordRefusal.unknownWebhook();
		}
		const { fields, received } = await readBody(context);
		const channel = emu.world.channels.get(record.channelId);
		if (!channel) {
			await received.discard();
			throw DiscordRefusal.unknownChannel();
		}
		const { message } = await postMessage(emu, {
			channel,
			authorId: emu.world.ids.botUserId,
			fields,
			received,
			type: MessageType.Default,
			webhookId: emu.world.ids.applicationId,
			interaction: interactionMeta(record)
		});
		record.followupIds.push(message.id);
		return context.query.get('wait') === 'false' ? reply.noContent(true) : reply.json(emu.payloads.message(message), 200, true);
	}),
	webhook('GET', '/webhooks/:application/:token/messages/:message', (context, record) => {
		return reply.json(context.emu.payloads.message(webhookMessage(context, record)));
	}),
	webhook('PATCH', '/webhooks/:application/:token/messages/:message', async (context, record) => {
		const message = webhookMessage(context, record);
		const { fields, received } = await readBody(context);
		const edited = await editMessage(context.emu, message, fields, received);
		return reply.json(context.emu.payloads.message(edited), 200, true);
	}),
	webhook('DELETE', '/webhooks/:application/:token/messages/:message', async (context, record) => {
		const message = webhookMessage(context, record);
		await deleteMessage(context.emu, message);
		if (record.originalMessageId === message.id) record.originalMessageId = null;
		record.followupIds = record.followupIds.filter((id) => id !== message.id);
		return reply.noContent(true);
	})
];

function webhook(method: string, pattern: string, handler: (context: RestContext, record: InteractionRecord) => Reply | Promise<Reply>): RestRoute {
	return {
		method,
		pattern,
		auth: false,
		rateLimited: true,
		handler: async (context) => {
			const { emu, params } = context;
			const record = params.token === undefined ? undefined : emu.interactions.byToken(params.token);
			if (!record || params.application !== emu.world.ids.applicationId) {
				await drainBody(context);
				throw DiscordRefusal.unknownWebhook();
			}
			if (Date.now() > record.createdAt + emu.limits.interactionTokenMs) {
				await drainBody(context);
				throw DiscordRefusal.invalidWebhookToken();
			}
			return handler(context, record);
		}
	};
}

async function drainBody(context: RestContext): Promise<void> {
	context.body.resume();
	await new Promise<void>((resolve) => {
		if (context.body.readableEnded) resolve();
		else
			context.body.once('end', resolve).once('error', () => {
				resolve();
			});
	});
}

function receive(context: RestContext) {
	const { emu } = context;
	return readMessageBody(context.body, context.headers['content-type'], {
		attachmentBytes: emu.limits.attachmentBytes,
		requestBytes: emu.limits.requestBytes,
		files: emu.limits.attachmentsPerMessage,
		incomingPath: () => emu.world.incomingPath()
	});
}

function readBody(context: RestContext) {
	return receive(context).then(async (received) => {
		try {
			return { fields: checkMessageFields(received.json), received };
		} catch (error) {
			await received.discard();
			throw error;
		}
	});
}

function webhookMessage(context: RestContext, record: InteractionRecord): StoredMessage {
	const { emu, params } = context;
	const id = params.message === '@original' ? record.originalMessageId : params.message;
	const allowed = id !== null && id !== undefined && (id === record.originalMessageId || record.followupIds.includes(id));
	const message = allowed ? emu.world.messages.get(id) : undefined;
	if (!message) throw DiscordRefusal.unknownMessage();
	return message;
}

function interactionMeta(record: InteractionRecord): StoredMessage['interaction'] {
	return { id: record.id, type: record.type, name: record.commandName, userId: record.userId, interactedMessageId: record.componentMessageId };
}

/**
 * `POST /interactions/:id/:token/callback`: the first answer to an interaction, inside the response window.
 * A second answer is refused (40060); a late one finds the interaction gone (10062).
 */
async function callback(context: RestContext) {
	const { emu, params } = context;
	const record = params.interaction === undefined ? undefined : emu.interactions.get(params.interaction);
	if (!record || record.token !== params.token) {
		await drainBody(context);
		throw DiscordRefusal.unknownInteraction();
	}
	if (record.status === 'acknowledged') {
		await drainBody(context);
		throw DiscordRefusal.alreadyAcknowledged();
	}
	if (record.status === 'expired' || Date.now() > record.createdAt + emu.limits.interactionResponseMs) {
		await drainBody(context);
		throw DiscordRefusal.unknownInteraction();
	}
	const received = await receive(context);
	const body = received.json;
	try {
		if (!isRecord(body) || typeof body.type !== 'number')
			throw invalidFormBody([{ path: ['type'], code: 'BASE_TYPE_REQUIRED', message: 'This field is required' }]);
		const allowed = allowedCallbacks(record);
		if (!allowed.includes(body.type)) {
			throw invalidFormBody([
				{
					path: ['type'],
					code: 'INTERACTION_RESPONSE_TYPE_INVALID',
					message: `Interaction response type ${body.type} is not valid for this interaction.`
				}
			]);
		}
	} catch (error) {
		await received.discard();
		throw error;
	}
	const type = (body as { type: number }).type;
	const data = (body as { data?: unknown }).data;
	let message: StoredMessage | null = null;
	let committed = false;
	switch (type) {
		case CallbackType.ChannelMessageWithSource:
		case CallbackType.DeferredChannelMessageWithSource: {
			let fields;
			try {
				fields = checkMessageFields(data ?? {});
			} catch (error) {
				await received.discard();
				throw error;
			}
			const channel = emu.world.channels.get(record.channelId);
			if (!channel) {
				await received.discard();
				throw DiscordRefusal.unknownChannel();
			}
			const deferred = type === CallbackType.DeferredChannelMessageWithSource;
			const flags = deferred ? MessageFlag.Loading | ((fields.flags ?? 0) & MessageFlag.Ephemeral) : (fields.flags ?? 0);
			const posted = await postMessage(emu, {
				channel,
				authorId: emu.world.ids.botUserId,
				fields: deferred ? { flags } : { ...fields, flags },
				received,
				type: record.type === InteractionType.ApplicationCommand ? MessageType.ChatInputCommand : MessageType.Default,
				webhookId: emu.world.ids.applicationId,
				interaction: interactionMeta(record),
				allowEmpty: deferred
			});
			message = posted.message;
			record.originalMessageId = message.id;
			committed = true;
			break;
		}
		case CallbackType.DeferredUpdateMessage: {
			await received.discard();
			record.originalMessageId = record.componentMessageId;
			message = record.componentMessageId ? (emu.world.messages.get(record.componentMessageId) ?? null) : null;
			break;
		}
		case CallbackType.UpdateMessage: {
			const target = record.componentMessageId ? emu.world.messages.get(record.componentMessageId) : undefined;
			if (!target) {
				await received.discard();
				throw DiscordRefusal.unknownMessage();
			}
			let fields;
			try {
				fields = checkMessageFields(data ?? {});
			} catch (error) {
				await received.discard();
				throw error;
			}
			message = await editMessage(emu, target, fields, received);
			record.originalMessageId = message.id;
			committed = true;
			break;
		}
		case CallbackType.AutocompleteResult: {
			await received.discard();
			record.choices = checkAutocompleteChoices(data);
			break;
		}
		case CallbackType.Modal: {
			await received.discard();
			record.modal = data ?? null;
			break;
		}
		default:
			await received.discard();
	}
	emu.interactions.acknowledge(record, type);
	if (context.query.get('with_response') !== 'true') return reply.noContent(committed);
	return reply.json(
		{
			interaction: {
				id: record.id,
				type: record.type,
				response_message_id: message?.id ?? null,
				response_message_loading: message ? (message.flags & MessageFlag.Loading) !== 0 : null,
				response_message_ephemeral: message ? message.ephemeral : null
			},
			resource: { type, ...(message ? { message: emu.payloads.message(message) } : {}) }
		},
		200,
		committed
	);
}

function allowedCallbacks(record: InteractionRecord): number[] {
	switch (record.type) {
		case InteractionType.Autocomplete:
			return [CallbackType.AutocompleteResult];
		case InteractionType.MessageComponent:
			return [
				CallbackType.ChannelMessageWithSource,
				CallbackType.DeferredChannelMessageWithSource,
				CallbackType.DeferredUpdateMessage,
				CallbackType.UpdateMessage,
				CallbackType.Modal
			];
		default:
			return [CallbackType.ChannelMessageWithSource, CallbackType.DeferredChannelMessageWithSource, CallbackType.Modal];
	}
}
