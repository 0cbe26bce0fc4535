import { describe, expect, it } from 'vitest';
import { CoreErrorCode, createCryptoPool } from '../../src/core/index.js';
import { describeFailure, ExitCode } from '../../src/cli/failure.js';

describe('crypto pool', () => {
	it('GIVEN a closed pool WHEN work is handed to it THEN POOL_CLOSED, which the CLI reports as a failure, not a usage error', async () => {
		const pool = createCryptoPool({ workers: 1 });
		await pool.close();
		const error: unknown = await pool.hash(new Uint8Array(4)).catch((caught: unknown) => caught);
		expect(error).toMatchObject({ code: CoreErrorCode.PoolClosed });
		expect(describeFailure(error)).toMatchObject({ code: 'POOL_CLOSED', exitCode: ExitCode.Failed });
	});
});
