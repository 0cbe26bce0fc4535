/** The error a promise rejects with, as `E` (fails the test if it resolves). */
export async function rejection<E = { status?: number; code?: number | string; message: string }>(promise: Promise<unknown>): Promise<E> {
	try {
		await promise;
	} catch (error) {
		return error as E;
	}
	throw new Error('Expected the call to fail, and it succeeded.');
}
