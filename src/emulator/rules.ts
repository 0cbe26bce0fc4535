import type { FormProblem } from './errors.js';
import { invalidFormBody } from './errors.js';

/** Discord's fixed message limits (the configurable ones live in EmulatorLimits). */
export const MessageRules = {
	content: 2000,
	embeds: 10,
	embedTitle: 256,
	embedDescription: 4096,
	embedFields: 25,
	embedFieldName: 256,
	embedFieldValue: 1024,
	embedFooter: 2048,
	embedAuthor: 256,
	embedTotal: 6000,
	/** Every URL of an embed (`url`, footer and author icons, author link, images): an http(s) URI. */
	embedUrl: 2048,
	actionRows: 5,
	rowComponents: 5,
	customId: 100,
	buttonLabel: 80,
	nonce: 25,
	autocompleteChoices: 25,
	choiceName: 100,
	choiceValue: 100
} as const;

const maxLength = (path: FormProblem['path'], max: number): FormProblem => ({
	path,
	code: 'BASE_TYPE_MAX_LENGTH',
	message: `Must be ${max} or fewer in length.`
});
const badLength = (path: FormProblem['path'], min: number, max: number): FormProblem => ({
	path,
	code: 'BASE_TYPE_BAD_LENGTH',
	message: `Must be between ${min} and ${max} in length.`
});
const required = (path: FormProblem['path']): FormProblem => ({ path, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** The message fields a create or edit may carry, already type-checked. */
export interface MessageFields {
	content?: string;
	embeds?: Record<string, unknown>[];
	components?: Record<string, unknown>[];
	flags?: number;
	nonce?: string | number;
	enforceNonce?: boolean;
	/** `attachments` of the payload: which uploaded files (by `id` = file index) or kept attachments (by id). */
	attachments?: Record<string, unknown>[];
}

/**
 * Checks a message payload against Discord's limits (content 2000, embeds, 5 action rows, custom ids…)
 * and returns its typed fields.
 * @throws DiscordApiError 400/50035 Invalid Form Body with Discord's `errors` tree.
 */
export function checkMessageFields(body: unknown): MessageFields {
	if (body === null || body === undefined) return {};
	if (!isRecord(body)) throw invalidFormBody([{ path: [], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' }]);
	const problems: FormProblem[] = [];
	const fields: MessageFields = {};
	if (body.content !== undefined && body.content !== null) {
		if (typeof body.content !== 'string')
			problems.push({ path: ['content'], code: 'STRING_TYPE_CONVERT', message: 'Could not interpret the value as string.' });
		else if (body.content.length > MessageRules.content) problems.push(maxLength(['content'], MessageRules.content));
		else fields.content = body.content;
	}
	if (body.embeds !== undefined && body.embeds !== null) {
		if (!Array.isArray(body.embeds))
			problems.push({ path: ['embeds'], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' });
		else {
			if (body.embeds.length > MessageRules.embeds) problems.push(maxLength(['embeds'], MessageRules.embeds));
			let total = 0;
			body.embeds.forEach((embed: unknown, index) => {
				if (!isRecord(embed)) {
					problems.push({ path: ['embeds', index], code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' });
					return;
				}
				total += checkEmbed(embed, ['embeds', index], problems);
			});
			if (total > MessageRules.embedTotal) {
				problems.push({
					path: ['embeds'],
					code: 'MAX_EMBED_SIZE_EXCEEDED',
					message: `Embed size exceeds maximum size of ${MessageRules.embedTotal}`
				});
			}
			fields.embeds = body.embeds.filter(isRecord).map((embed) => ({ type: 'rich', ...embed }));
		}
	}
	if (body.components !== undefined && body.components !== null) {
		if (!Array.isArray(body.components))
			problems.push({ path: ['components'], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' });
		else {
			checkComponents(body.components, body.flags, problems);
			fields.components = body.components.filter(isRecord);
		}
	}
	if (body.flags !== undefined && body.flags !== null) {
		if (typeof body.flags !== 'number' || !Number.isInteger(body.flags))
			problems.push({ path: ['flags'], code: 'NUMBER_TYPE_COERCE', message: 'Value is not int.' });
		else fields.flags = body.flags;
	}
	if (body.nonce !== undefined && body.nonce !== null) {
		if (typeof body.nonce === 'string') {
			if (body.nonce.length > MessageRules.nonce) problems.push(maxLength(['nonce'], MessageRules.nonce));
			else fields.nonce = body.nonce;
		} else if (typeof body.nonce === 'number' && Number.isInteger(body.nonce)) fields.nonce = body.nonce;
		else problems.push({ path: ['nonce'], code: 'NONCE_TYPE_INVALID', message: 'Nonce must be an integer or a string.' });
	}
	if (body.enforce_nonce === true) fields.enforceNonce = true;
	if (body.attachments !== undefined && body.attachments !== null) {
		if (!Array.isArray(body.attachments))
			problems.push({ path: ['attachments'], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' });
		else fields.attachments = body.attachments.filter(isRecord);
	}
	if (problems.length > 0) throw invalidFormBody(problems);
	return fields;
}

/**
 * An embed URL as Discord takes it (OpenAPI `RichEmbed.url`: `format: uri`, at most 2048): a well-formed URL whose
 * scheme is http or https. Not counted in the embed's 6000-character total.
 */
function checkUrl(value: unknown, path: (string | number)[], problems: FormProblem[]): void {
	if (value === undefined || value === null) return;
	if (typeof value !== 'string') {
		problems.push({ path, code: 'URL_TYPE_INVALID_URL', message: 'Not a well formed URL.' });
		return;
	}
	if (value.length > MessageRules.embedUrl) {
		problems.push(maxLength(path, MessageRules.embedUrl));
		return;
	}
	let scheme: string;
	try {
		scheme = new URL(value).protocol.slice(0, -1);
	} catch {
		problems.push({ path, code: 'URL_TYPE_INVALID_URL', message: 'Not a well formed URL.' });
		return;
	}
	if (scheme !== 'http' && scheme !== 'https') {
		problems.push({
			path,
			code: 'URL_TYPE_INVALID_SCHEME',
			message: `Scheme "${scheme}" is not supported. Scheme must be one of ('http', 'https').`
		});
	}
}

function checkEmbed(embed: Record<string, unknown>, path: (string | number)[], problems: FormProblem[]): number {
	let total = 0;
	const measure = (value: unknown, max: number, at: (string | number)[]) => {
		const length = text(value).length;
		if (length > max) problems.push(maxLength(at, max));
		total += length;
	};
	measure(embed.title, MessageRules.embedTitle, [...path, 'title']);
	measure(embed.description, MessageRules.embedDescription, [...path, 'description']);
	if (isRecord(embed.footer)) measure(embed.footer.text, MessageRules.embedFooter, [...path, 'footer', 'text']);
	if (isRecord(embed.author)) measure(embed.author.name, MessageRules.embedAuthor, [...path, 'author', 'name']);
	checkUrl(embed.url, [...path, 'url'], problems);
	if (isRecord(embed.footer)) checkUrl(embed.footer.icon_url, [...path, 'footer', 'icon_url'], problems);
	if (isRecord(embed.author)) {
		checkUrl(embed.author.url, [...path, 'author', 'url'], problems);
		checkUrl(embed.author.icon_url, [...path, 'author', 'icon_url'], problems);
	}
	if (embed.fields !== undefined) {
		if (!Array.isArray(embed.fields))
			problems.push({ path: [...path, 'fields'], code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' });
		else {
			if (embed.fields.length > MessageRules.embedFields) problems.push(maxLength([...path, 'fields'], MessageRules.embedFields));
			embed.fields.forEach((field: unknown, index) => {
				const at = [...path, 'fields', index];
				if (!isRecord(field)) return;
				if (typeof field.name !== 'string' || field.name.length === 0) problems.push(required([...at, 'name']));
				if (typeof field.value !== 'string' || field.value.length === 0) problems.push(required([...at, 'value']));
				measure(field.name, MessageRules.embedFieldName, [...at, 'name']);
				measure(field.value, MessageRules.embedFieldValue, [...at, 'value']);
			});
		}
	}
	return total;
}

function checkComponents(components: unknown[], flags: unknown, problems: FormProblem[]): void {
	const componentsV2 = typeof flags === 'number' && (flags & (1 << 15)) !== 0;
	if (!componentsV2 && components.length > MessageRules.actionRows) problems.push(badLength(['components'], 0, MessageRules.actionRows));
	const seen = new Set<string>();
	const visit = (component: unknown, path: (string | number)[]) => {
		if (!isRecord(component)) return;
		if (component.custom_id !== undefined) {
			const id = text(component.custom_id);
			if (id.length < 1 || id.length > MessageRules.customId) problems.push(badLength([...path, 'custom_id'], 1, MessageRules.customId));
			else if (seen.has(id))
				problems.push({
					path: [...path, 'custom_id'],
					code: 'COMPONENT_CUSTOM_ID_DUPLICATED',
					message: 'Component custom id cannot be duplicated'
				});
			seen.add(id);
		}
		if (component.type === 2) {
			if (component.label !== undefined && text(component.label).length > MessageRules.buttonLabel)
				problems.push(maxLength([...path, 'label'], MessageRules.buttonLabel));
			if (component.style === 5 ? typeof component.url !== 'string' : component.style !== 6 && component.custom_id === undefined) {
				problems.push(required([...path, component.style === 5 ? 'url' : 'custom_id']));
			}
		}
		if (Array.isArray(component.components)) {
			if (component.type === 1 && component.components.length > MessageRules.rowComponents) {
				problems.push(badLength([...path, 'components'], 1, MessageRules.rowComponents));
			}
			component.components.forEach((child: unknown, index) => {
				visit(child, [...path, 'components', index]);
			});
		}
	};
	components.forEach((component, index) => {
		if (!componentsV2 && isRecord(component) && component.type !== 1) {
			problems.push({ path: ['components', index, 'type'], code: 'UNION_TYPE_CHOICES', message: 'Value of field "type" must be one of (1,).' });
		}
		visit(component, ['components', index]);
	});
}

/**
 * Checks an autocomplete answer (callback type 8): at most 25 choices, names 1–100, string values ≤ 100.
 * @throws DiscordApiError 400/50035.
 */
export function checkAutocompleteChoices(data: unknown): { name: string; value: string | number }[] {
	if (!isRecord(data) || !Array.isArray(data.choices)) throw invalidFormBody([required(['data', 'choices'])]);
	const problems: FormProblem[] = [];
	if (data.choices.length > MessageRules.autocompleteChoices) problems.push(maxLength(['data', 'choices'], MessageRules.autocompleteChoices));
	const choices: { name: string; value: string | number }[] = [];
	data.choices.forEach((choice: unknown, index) => {
		const at = ['data', 'choices', index];
		if (!isRecord(choice)) {
			problems.push({ path: at, code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' });
			return;
		}
		const name = text(choice.name);
		if (name.length < 1 || name.length > MessageRules.choiceName) problems.push(badLength([...at, 'name'], 1, MessageRules.choiceName));
		if (typeof choice.value === 'string') {
			if (choice.value.length > MessageRules.choiceValue) problems.push(maxLength([...at, 'value'], MessageRules.choiceValue));
		} else if (typeof choice.value !== 'number') problems.push(required([...at, 'value']));
		choices.push({ name, value: choice.value as string | number });
	});
	if (problems.length > 0) throw invalidFormBody(problems);
	return choices;
}

const COMMAND_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

/**
 * Checks an application command as Discord does on create/overwrite (names, descriptions, option counts,
 * choices) and returns it normalised with the defaults Discord fills in.
 * @throws DiscordApiError 400/50035.
 */
export function checkCommand(body: unknown, path: (string | number)[] = []): Record<string, unknown> {
	if (!isRecord(body)) throw invalidFormBody([{ path, code: 'DICT_TYPE_CONVERT', message: 'Only dictionaries may be used in a DictType' }]);
	const problems: FormProblem[] = [];
	const type = typeof body.type === 'number' ? body.type : 1;
	const name = text(body.name);
	if (!COMMAND_NAME.test(name) || (type === 1 && name !== name.toLowerCase())) {
		problems.push({ path: [...path, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
	}
	const description = text(body.description);
	if (type === 1 && (description.length < 1 || description.length > 100)) problems.push(badLength([...path, 'description'], 1, 100));
	const checkOptions = (options: unknown, at: (string | number)[]) => {
		if (options === undefined || options === null) return;
		if (!Array.isArray(options)) {
			problems.push({ path: at, code: 'LIST_TYPE_CONVERT', message: 'Only iterables may be used in a ListType' });
			return;
		}
		if (options.length > 25) problems.push(maxLength(at, 25));
		options.forEach((option: unknown, index) => {
			const here = [...at, index];
			if (!isRecord(option)) return;
			if (!COMMAND_NAME.test(text(option.name)))
				problems.push({ path: [...here, 'name'], code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Command name is invalid' });
			const optionDescription = text(option.description);
			if (optionDescription.length < 1 || optionDescription.length > 100) problems.push(badLength([...here, 'description'], 1, 100));
			if (Array.isArray(option.choices) && option.choices.length > 25) problems.push(maxLength([...here, 'choices'], 25));
			if (option.autocomplete === true && Array.isArray(option.choices) && option.choices.length > 0) {
				problems.push({
					path: [...here, 'autocomplete'],
					code: 'APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES',
					message: 'Autocomplete cannot be set with choices'
				});
			}
			checkOptions(option.options, [...here, 'options']);
		});
	};
	checkOptions(body.options, [...path, 'options']);
	if (problems.length > 0) throw invalidFormBody(problems);
	return {
		type,
		name,
		name_localizations: body.name_localizations ?? null,
		description: type === 1 ? description : '',
		description_localizations: body.description_localizations ?? null,
		options: Array.isArray(body.options) ? body.options : [],
		default_member_permissions: body.default_member_permissions ?? null,
		dm_permission: body.dm_permission ?? true,
		contexts: body.contexts ?? null,
		integration_types: body.integration_types ?? [0],
		nsfw: body.nsfw ?? false
	};
}
