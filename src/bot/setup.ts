// Imported first by the entry points: registers the subcommands plugin before any piece is loaded.
import '@sapphire/plugin-subcommands/register';
import { ApplicationCommandRegistries, RegisterBehavior } from '@sapphire/framework';

// One PUT per scope when the registered commands differ from ours: no drift, one request.
ApplicationCommandRegistries.setDefaultBehaviorWhenNotIdentical(RegisterBehavior.BulkOverwrite);
