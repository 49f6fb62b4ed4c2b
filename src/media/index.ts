/**
 * media: decode and encode video through ffmpeg child processes.
 * See README.md for the design decisions (timing, truncation, resolution
 * changes, audio).
 */
export { checkFfmpeg, MIN_FFMPEG_MAJOR, type CheckFfmpegOptions, type FfmpegInfo } from './ffmpeg-binary.js';
export { probe, type MediaInfo, type ProbeOptions } from './probe.js';
export {
  FfmpegProcess,
  type FfmpegOutcome,
  type FfmpegProcessEvents,
  type FfmpegProcessOptions,
} from './ffmpeg-process.js';
export { VideoDecoder, decoderArgs, type DecoderArgsOptions, type VideoDecoderOptions } from './video-decoder.js';
export { VideoEncoder, type VideoEncoderOptions } from './video-encoder.js';
export {
  containerOf,
  encoderArgs,
  fpsRational,
  type Container,
  type EncoderArgsOptions,
  type VideoCodec,
} from './encoder-args.js';
export { resolveFfmpegPath, resolveFfprobePath } from './ffmpeg-binary.js';
export { runTool, stderrReason, SpawnFailure, type RunToolOptions, type ToolResult } from './run-tool.js';
