// The Drizzle schema of the history index. Tables arrive with the archive service.
export {};
