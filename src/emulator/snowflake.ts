/** Discord's epoch (2015-01-01T00:00:00Z) in milliseconds: every snowflake counts from it. */
export const DISCORD_EPOCH = 1_420_070_400_000n;

/**
 * Makes Discord snowflakes: 64-bit ids whose top 42 bits are milliseconds since {@link DISCORD_EPOCH}, so
 * they sort by creation time and are 17–19 digits long (discord.js routes only recognise ids of that length).
 * Ids are strictly increasing, also across restarts when {@link SnowflakeSource.observe} is fed the ids
 * already in use.
 */
export class SnowflakeSource {
	#last = 0n;
	readonly #worker: bigint;

	public constructor(worker = 1) {
		this.#worker = BigInt(worker & 0x1f);
	}

	/** A new id, greater than every id made or observed before. */
	public next(now = Date.now()): string {
		let id = ((BigInt(now) - DISCORD_EPOCH) << 22n) | (this.#worker << 17n);
		if (id <= this.#last) id = this.#last + 1n;
		this.#last = id;
		return id.toString();
	}

	/** Records an id that exists already (loaded from disk) so later ids sort after it. */
	public observe(id: string): void {
		const value = BigInt(id);
		if (value > this.#last) this.#last = value;
	}
}

/** Orders two snowflakes (numerically, as Discord does). */
export function compareSnowflakes(a: string, b: string): number {
	const x = BigInt(a);
	const y = BigInt(b);
	return x < y ? -1 : x > y ? 1 : 0;
}
