export { ssim, SSIM_C1, SSIM_C2, type LumaRegion, type SsimOptions } from './ssim.js';
export { clipRect, copyRegion, lumaOf, lumaRegion, resampleArea, subRegion, type PixelRect } from './region.js';
