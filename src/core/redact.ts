/**
 * Keeps secrets (the bot token, USER_KEY) out of every log line and every reply: whatever text leaves the bot
 * passes through {@link Redactor.redact} first. Errors from libraries can echo request details; this is the
 * last line of defence, not the first (no code passes a secret to a message on purpose).
 */
export class Redactor {
	readonly #secrets: string[];

	/**
	 * Every non-empty secret is redacted, however short: a short secret is still a secret. The configuration refuses
	 * the ones so short that redacting them would mangle ordinary text (a USER_KEY under 8 characters, a bot token
	 * under 20 outside a local emulator).
	 */
	public constructor(secrets: readonly (string | undefined)[]) {
		this.#secrets = [...new Set(secrets.filter((secret): secret is string => secret !== undefined && secret !== ''))].sort(
			(a, b) => b.length - a.length
		);
	}

	public redact(text: string): string {
		let result = text;
		for (const secret of this.#secrets) result = result.split(secret).join('[redacted]');
		return result;
	}
}
