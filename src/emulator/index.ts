/**
 * A local Discord for tests, the demo and trying the bot without a token: REST v10, the gateway, a CDN with
 * signed expiring URLs, and a control API. It models Discord, not this application, and imports nothing from it.
 */
export { startEmulator } from './server.js';
export type { Emulator } from './server.js';
export type { EmulatorOptions, EmulatorLimits } from './options.js';
export { DEFAULT_LIMITS } from './options.js';
export type { FaultKind, FaultSettings } from './faults.js';
export { NO_FAULTS } from './faults.js';
export type { BotAccess, EmulatorStateView, EmulatorStats, ForeignFile } from './control.js';
export type { InteractionRequest, InteractionView, InteractionKind, InteractionStatus, AutocompleteChoice } from './interactions.js';
export type { ControlMessage } from './payloads.js';
export { ControlClient, answered } from './control-client.js';
export type { GatewayDropMode } from './gateway.js';
export type { WorldIds } from './world.js';
export { EmulatorError, EmulatorErrorCode, DiscordErrorCode } from './errors.js';
