export { MaskConfigSchema, parseMaskConfig, type MaskConfig, type MaskConfigInput } from './mask-config.js';
