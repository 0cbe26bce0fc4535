import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Validates answers against Discord's official OpenAPI 3.1 description (test/fixtures/discord-openapi.json, from
 * github.com/discord/discord-api-spec, MIT). The schemas are JSON Schema; Ajv (already installed, as ESLint's
 * dependency) checks them strictly: an unknown keyword or format in the spec is an error, not a silent pass.
 * Ajv 6 speaks draft-07; the spec uses only keywords whose meaning draft-07 and 2020-12 share (its `$ref`s carry
 * at most a `description` beside them), plus two annotations declared here as such.
 */

const SPEC_PATH = fileURLToPath(new URL('../fixtures/discord-openapi.json', import.meta.url));
/** The id each component schema is registered under; the spec's `#/components/schemas/X` refs are rewritten to it. */
const schemaId = (name: string) => `https://discord-openapi.invalid/schemas/${name}`;

const INT32 = 2 ** 31;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the spec is JSON read from disk.
type Json = any;

export interface OpenApiAnswer {
	/** HTTP method, as in the spec's path item (`GET`, `POST`…). */
	readonly method: string;
	/** The spec's path template: `/channels/{channel_id}/messages/{message_id}`. */
	readonly path: string;
	readonly status: number;
	/** The parsed JSON body, or `undefined` for an answer without one (204). */
	readonly body: unknown;
}

export class OpenApiSpec {
	readonly #spec: Json;
	readonly #ajv: Ajv.Ajv;
	readonly #compiled = new Map<string, ValidateFunction>();

	public constructor(spec: Json = JSON.parse(readFileSync(SPEC_PATH, 'utf8'))) {
		this.#spec = spec;
		this.#ajv = new Ajv({ allErrors: true, format: 'full', strictKeywords: true, unknownFormats: true, validateSchema: false });
		this.#ajv.addFormat('int32', { type: 'number', validate: (value: number) => Number.isInteger(value) && value >= -INT32 && value < INT32 });
		this.#ajv.addFormat('int64', { type: 'number', validate: (value: number) => Number.isSafeInteger(value) });
		this.#ajv.addFormat('double', { type: 'number', validate: (value: number) => Number.isFinite(value) });
		this.#ajv.addFormat('snowflake', /^(0|[1-9][0-9]{0,19})$/);
		// The nonce's only constraint (≤ 25 characters) is a `maxLength` beside the format.
		this.#ajv.addFormat('nonce', /^[\s\S]*$/);
		// An annotation of the spec's own (draft-07 knows `contentEncoding` as one already).
		this.#ajv.addKeyword('x-discord-union', { valid: true });
		for (const [name, schema] of Object.entries(spec.components.schemas as Record<string, Json>)) {
			this.#ajv.addSchema(rewriteRefs(schema), schemaId(name));
		}
	}

	/** The schema of a named component (`components/schemas/<name>`) as a validator. */
	public component(name: string): (value: unknown) => string[] {
		if (!(name in this.#spec.components.schemas)) throw new Error(`The spec has no schema ${name}.`);
		const validate = this.#ajv.getSchema(schemaId(name));
		if (!validate) throw new Error(`Ajv did not register ${name}.`);
		return (value) => this.#problems(validate, value);
	}

	/**
	 * What is wrong with an answer, by the spec's response for its method, path and status (the exact status,
	 * else `4XX`/`5XX`, else `default`). Empty when it conforms.
	 * @throws Error when the spec documents no such path, method or status (the suite asked for the wrong thing).
	 */
	public problems(answer: OpenApiAnswer): string[] {
		const operation = this.#spec.paths[answer.path]?.[answer.method.toLowerCase()];
		if (!operation) throw new Error(`The spec has no ${answer.method} ${answer.path}.`);
		const responses = operation.responses as Record<string, Json>;
		const key = [String(answer.status), `${String(answer.status)[0]}XX`, 'default'].find((candidate) => candidate in responses);
		if (key === undefined) return [`${answer.method} ${answer.path} documents no ${answer.status} answer`];
		let response = responses[key];
		const ref = typeof response.$ref === 'string' ? (response.$ref as string) : undefined;
		if (ref) response = this.#resolve(ref);
		const schema = response.content?.['application/json']?.schema;
		if (!schema) return answer.body === undefined ? [] : [`${answer.status} answers have no body in the spec, this one has one`];
		if (answer.body === undefined) return [`${answer.status} answers carry a JSON body in the spec, this one has none`];
		const cacheKey = `${answer.method} ${answer.path} ${key}`;
		let validate = this.#compiled.get(cacheKey);
		if (!validate) {
			validate = this.#ajv.compile(rewriteRefs(schema));
			this.#compiled.set(cacheKey, validate);
		}
		return this.#problems(validate, answer.body);
	}

	#problems(validate: ValidateFunction, value: unknown): string[] {
		if (validate(value)) return [];
		return (validate.errors ?? []).map((error) => `${error.dataPath || '(root)'} ${error.message ?? error.keyword} (${error.schemaPath})`);
	}

	#resolve(ref: string): Json {
		let node: Json = this.#spec;
		for (const part of ref.replace(/^#\//, '').split('/')) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
		if (node === undefined) throw new Error(`The spec has no ${ref}.`);
		return node;
	}
}

/** A copy of a schema whose `#/components/schemas/X` refs point at the registered component ids. */
function rewriteRefs(node: Json): Json {
	if (Array.isArray(node)) return node.map(rewriteRefs);
	if (typeof node !== 'object' || node === null) return node;
	const copy: Record<string, Json> = {};
	for (const [key, value] of Object.entries(node as Record<string, Json>)) {
		if (key === '$ref') {
			const match = /^#\/components\/schemas\/([^/]+)$/.exec(String(value));
			if (!match) throw new Error(`Unexpected $ref ${String(value)} in a schema.`);
			copy[key] = schemaId(match[1]!);
		} else {
			copy[key] = rewriteRefs(value);
		}
	}
	return copy;
}
