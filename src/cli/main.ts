import { writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger, LivemaskError, type Logger } from '../core/index.js';
import { parseMaskConfig } from '../config/index.js';
import { formatLeakReport, runLeakEval } from '../eval/index.js';
import { maskFile } from '../pipeline/index.js';
import { describeFailure, EXIT } from './exit-codes.js';
import { Progress } from './progress.js';
import { benchCommand } from './bench-command.js';
import { evidenceCommand } from './evidence-command.js';
import { serve } from './serve-command.js';

const USAGE = `usage:
  livemask mask <input> -o <output> [--style pixelate|blur|solid] [--detector front|back|both]
                [--ep cpu|cuda] [--report report.json] [--lookahead N] [--tile-every N] [--require-face]
  livemask eval leak --original A --masked B --truth T.json [--sheet sheet.png]
                [--corrections C.json] [--threshold X] [--json]
  livemask serve [--port 8080] [--host 127.0.0.1] [--data ./data] [--demo] [--redis URL] [--public-url URL]
  livemask evidence list [--room R] [--data ./data]
  livemask evidence verify <room> [--session S] [--data ./data]
  livemask evidence verify --bundle <dir>
  livemask evidence export <room> --from <ISO time> --to <ISO time> -o <dir> --actor <id> --reason <text> [--data ./data]
  livemask evidence recover [--data ./data]
  livemask evidence hold <room> --reason <text> [--actor <id>] [--data ./data]
  livemask evidence release <room> --reason <text> [--actor <id>] [--data ./data]
  livemask evidence sweep [--retention-days 90] [--dry-run] [--room R] [--actor <id>] [--data ./data]
  livemask evidence audit <room> [--data ./data]
  livemask evidence fetch <room> [--session S] --to <dir> [--data ./data]
  livemask bench [--ep cpu|cuda] [--clips a,b] [--detect-batch N] [--quick]
  livemask --help | --version`;

function usageError(message: string): LivemaskError {
  return new LivemaskError('BAD_USAGE', message);
}

type Options = NonNullable<ParseArgsConfig['options']>;

function parse(args: string[], options: Options): { values: Record<string, unknown>; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err));
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function maskCommand(args: string[], logger: Logger): Promise<number> {
  const { values, positionals } = parse(args, {
    output: { type: 'string', short: 'o' },
    style: { type: 'string' },
    detector: { type: 'string' },
    ep: { type: 'string' },
    report: { type: 'string' },
    lookahead: { type: 'string' },
    'tile-every': { type: 'string' },
    'require-face': { type: 'boolean' },
  });
  const input = positionals[0];
  const output = str(values.output);
  if (!input || !output || positionals.length > 1) {
    throw usageError('mask needs exactly one <input> and -o <output>');
  }
  const lookahead = str(values.lookahead);
  const tileEvery = str(values['tile-every']);
  const config = parseMaskConfig({
    ...(values.style !== undefined ? { style: values.style } : {}),
    ...(values.detector !== undefined ? { detector: values.detector } : {}),
    ...(values.ep !== undefined ? { ep: values.ep } : {}),
    ...(lookahead !== undefined ? { lookahead: Number(lookahead) } : {}),
    ...(tileEvery !== undefined ? { tileEvery: Number(tileEvery) } : {}),
    ...(values['require-face'] === true ? { requireFace: true } : {}),
  });
  const progress = new Progress(process.stderr, 'mask');
  let fps = 30;
  const report = await maskFile({
    input,
    output,
    config,
    logger,
    onProgress: (done, total) => progress.update(done, total, fps),
    onMedia: (info) => {
      fps = info.fps;
    },
  });
  progress.finish();
  const reportPath = str(values.report);
  if (reportPath) {
    await writeFile(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  }
  const t = report.totals;
  process.stdout.write(
    `masked ${t.frames} frames (${t.failsafeFrames} fail-safe, ${t.faces} face boxes) -> ${output}` +
      ` in ${(t.wallMs / 1000).toFixed(1)} s, ${t.realtimeFactor.toFixed(2)}x real time, ep=${report.executionProvider}\n`,
  );
  return EXIT.ok;
}

async function evalCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'leak') {
    throw usageError(`unknown eval command: ${sub ?? '(none)'}`);
  }
  const { values } = parse(rest, {
    original: { type: 'string' },
    masked: { type: 'string' },
    truth: { type: 'string' },
    sheet: { type: 'string' },
    corrections: { type: 'string' },
    threshold: { type: 'string' },
    json: { type: 'boolean' },
  });
  const original = str(values.original);
  const masked = str(values.masked);
  const truth = str(values.truth);
  if (!original || !masked || !truth) {
    throw usageError('eval leak needs --original, --masked and --truth');
  }
  const threshold = str(values.threshold);
  if (threshold !== undefined && !Number.isFinite(Number(threshold))) {
    throw usageError(`--threshold must be a number, got ${threshold}`);
  }
  const sheet = str(values.sheet);
  const corrections = str(values.corrections);
  const report = await runLeakEval({
    original,
    masked,
    truth,
    ...(threshold !== undefined ? { threshold: Number(threshold) } : {}),
    ...(sheet !== undefined ? { sheet } : {}),
    ...(corrections !== undefined ? { corrections } : {}),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : `${formatLeakReport(report)}\n`);
  return EXIT.ok;
}

async function serveCommand(args: string[], logger: Logger): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    data: { type: 'string' },
    demo: { type: 'boolean' },
    'public-url': { type: 'string' },
    redis: { type: 'string' },
  });
  if (positionals.length > 0) {
    throw usageError(`serve takes no arguments, got ${positionals.join(' ')}`);
  }
  return serve(
    { port: str(values.port), host: str(values.host), data: str(values.data), demo: values.demo === true, publicUrl: str(values['public-url']), redis: str(values.redis) },
    logger,
  );
}

/** Runs the `livemask` command line; resolves with the process exit code. */
export async function run(argv: string[]): Promise<number> {
  const logger = createLogger({ name: 'livemask' });
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'mask':
        return await maskCommand(rest, logger.child({ module: 'mask' }));
      case 'eval':
        return await evalCommand(rest);
      case 'serve':
        return await serveCommand(rest, logger);
      case 'bench':
        return await benchCommand(rest);
      case 'evidence':
        return await evidenceCommand(rest, logger.child({ module: 'evidence' }));
      case '--version':
        process.stdout.write('livemask 0.1.0\n');
        return EXIT.ok;
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw usageError(`unknown command: ${command}`);
    }
  } catch (err) {
    const { code, reason } = describeFailure(err);
    process.stderr.write(`livemask: ${reason}\n`);
    // Usage helps with bad arguments, not with a bad environment variable.
    if (code === EXIT.usage && !(err instanceof LivemaskError && (err.code === 'CONFIG_INVALID' || err.code === 'EVIDENCE_KEY'))) {
      process.stderr.write(`${USAGE}\n`);
    }
    if (code === EXIT.failed) {
      logger.error({ err }, 'command failed');
    }
    return code;
  }
}
