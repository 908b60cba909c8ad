// Types of bin/stamp.js (plain JavaScript: it runs before anything is transpiled).
export const ROOT: string;
export const SRC: string;
export const DIST: string;
export const STAMP: string;
export function sourceStamp(): string;
export function distIsCurrent(): boolean;
