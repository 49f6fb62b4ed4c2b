#!/usr/bin/env node
// Entry point of the `livemask` command. The TypeScript is compiled into dist/
// by `npm ci` (the package's prepare script).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('livemask: not built yet; run `npm ci` (or `npm run build`) in the package first\n');
  process.exit(2);
}
const { run } = await import(pathToFileURL(main).href);
process.exitCode = await run(process.argv.slice(2));
