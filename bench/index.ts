/**
 * bench: the benchmark behind `livemask bench` and `npm run bench`. It is
 * compiled with the package (dist/bench/), so the CLI imports it; see
 * README "Benchmarks".
 */
export { runBench, BenchSchemaError, type BenchResult } from './run.js';
export { BenchOptionsSchema, DEFAULT_CLIPS, parseBenchOptions, planBench, type BenchOptions, type BenchOptionsInput, type BenchPlan } from './options.js';
export { BenchResultSchema, schemaProblems, type BenchResultJson } from './result-schema.js';
export { stageChartSvg, writeStageChart } from './chart.js';
