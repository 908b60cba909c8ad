#!/usr/bin/env node
// The sources are TypeScript run through tsx, so there is no build step that could go stale
// between `npm ci` and `npx tlbridge`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
