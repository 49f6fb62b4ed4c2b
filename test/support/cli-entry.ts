// Runs the livemask command line from the TypeScript sources, for tests that
// need a real process (exit codes, stderr): node --import tsx test/support/cli-entry.ts ...
import { run } from '../../src/cli/main.js';

process.exitCode = await run(process.argv.slice(2));
