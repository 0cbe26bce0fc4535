export * from './archive-transport.js';
export * from './backoff.js';
export * from './errors.js';
export * from './messages.js';
export * from './nonce.js';
export * from './transport.js';
export { DiscordLimits } from './requests.js';
export type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed, APIMessageTopLevelComponent } from 'discord.js';
