// log.format's values, apart from log.ts: the config schema needs them, and loading log.ts
// loads winston, which only `run` uses (every command's start-up paid for it).
export type LogFormat = 'auto' | 'json' | 'text';
export const LOG_FORMATS = ['auto', 'json', 'text'] as const satisfies readonly LogFormat[];
