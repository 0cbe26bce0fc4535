/** Exit codes of `dos`: 0 done, 1 the work failed, 2 the command cannot run as given (usage, configuration). */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
