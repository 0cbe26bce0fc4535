import type { Command } from 'commander';

/** `dos emulator`: filled in by the emulator work; registers nothing until then. */
export function register(_program: Command): void {}
