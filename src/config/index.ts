export { DEFAULT_TILE_EVERY, MaskConfigSchema, parseMaskConfig, type MaskConfig, type MaskConfigInput } from './mask-config.js';
