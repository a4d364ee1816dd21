/**
 * Step colours: every step of a pipeline gets its own colour, however many
 * steps there are (the panel's marks, the step list and the DAG view all use
 * `stepColour`).
 *
 * Colours are chosen in OKLCH, a perceptual space: hues evenly spaced around
 * the circle at a chroma and lightness readable on JupyterLab's light and dark
 * themes. Past 10 steps the hue circle is split into two or three lightness
 * bands (neighbouring hues alternate bands) so no two colours come closer than
 * a perceptible distance; consecutive steps take hues far apart (a stride of
 * about 0.38 of the circle) so a step never looks like the one before it.
 * Pure functions, no DOM.
 */

/** A colour in OKLab: lightness `L` (0..1) and the opponent axes `a`, `b`. */
export interface IOklab {
  L: number;
  a: number;
  b: number;
}

/**
 * Lightness bands by number of steps. Every value keeps a 3:1 contrast (WCAG's
 * bar for marks that are not text) with both JupyterLab backgrounds, white
 * and #111 (OKLab L from 0.515 to 0.648 at this chroma, whatever the hue).
 */
const BANDS: readonly (readonly number[])[] = [
  [0.6],
  [0.53, 0.645],
  [0.515, 0.58, 0.645]
];

/** The chroma asked for (reduced where a hue cannot reach it in sRGB). */
const CHROMA = 0.15;

/** Hue of the first step, in degrees (a blue, like JupyterLab's brand). */
const FIRST_HUE = 250;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** A stride coprime with `n`, near 0.38 n: consecutive steps far apart in hue. */
function strideFor(n: number): number {
  if (n <= 2) {
    return 1;
  }
  const target = Math.round(n * 0.382);
  for (let d = 0; d < n; d++) {
    for (const s of [target + d, target - d]) {
      if (s > 0 && s < n && gcd(s, n) === 1) {
        return s;
      }
    }
  }
  return 1;
}

function bandsFor(count: number): readonly number[] {
  return count <= 10 ? BANDS[0] : count <= 24 ? BANDS[1] : BANDS[2];
}

/** OKLab to linear sRGB (Björn Ottosson's matrices). */
function oklabToLinear({ L, a, b }: IOklab): [number, number, number] {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s
  ];
}

function linearToOklab([r, g, b]: [number, number, number]): IOklab {
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  return {
    L: 0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
    a: 1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
    b: 0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s
  };
}

const encode = (c: number) =>
  c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
const decode = (c: number) =>
  c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;

function inGamut(rgb: [number, number, number]): boolean {
  return rgb.every(c => c >= -1e-6 && c <= 1 + 1e-6);
}

/**
 * `#rrggbb` for an OKLCH colour; where sRGB cannot show the chroma, the
 * chroma is lowered (hue and lightness kept) until it can.
 */
export function oklchToHex(L: number, C: number, hueDegrees: number): string {
  const h = (hueDegrees * Math.PI) / 180;
  let lo = 0;
  let hi = C;
  const at = (c: number) =>
    oklabToLinear({ L, a: c * Math.cos(h), b: c * Math.sin(h) });
  if (!inGamut(at(hi))) {
    for (let i = 0; i < 24; i++) {
      const mid = (lo + hi) / 2;
      if (inGamut(at(mid))) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    hi = lo;
  }
  const hex = at(hi)
    .map(c => Math.round(Math.min(1, Math.max(0, encode(c))) * 255))
    .map(c => c.toString(16).padStart(2, '0'))
    .join('');
  return `#${hex}`;
}

/** Parse `#rrggbb` or `rgb(r, g, b)` (what getComputedStyle returns). */
export function parseColour(colour: string): [number, number, number] {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour.trim());
  if (hex) {
    return [1, 2, 3].map(i => parseInt(hex[i], 16)) as [number, number, number];
  }
  const rgb = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/i.exec(
    colour.trim()
  );
  if (rgb) {
    return [1, 2, 3].map(i => Number(rgb[i])) as [number, number, number];
  }
  throw new Error(`Not a colour: "${colour}"`);
}

/** A `#rrggbb` / `rgb()` colour in OKLab. */
export function toOklab(colour: string): IOklab {
  const [r, g, b] = parseColour(colour).map(c => decode(c / 255));
  return linearToOklab([r, g, b]);
}

/** Perceptual distance of two colours (Euclidean in OKLab; ~0.02 is just noticeable). */
export function colourDistance(x: string, y: string): number {
  const p = toOklab(x);
  const q = toOklab(y);
  return Math.hypot(p.L - q.L, p.a - q.a, p.b - q.b);
}

/**
 * The colour of the step at position `index` (0-based, pipeline order) among
 * `count` steps, as `#rrggbb`. All `count` colours differ from each other; the
 * same (index, count) always gives the same colour.
 */
export function stepColour(index: number, count: number): string {
  const n = Math.max(1, Math.floor(count));
  const i = ((Math.floor(index) % n) + n) % n;
  const bands = bandsFor(n);
  // Hue slots: a multiple of the band count, so neighbouring slots always
  // alternate bands (also across the 360° wrap).
  const slots = Math.ceil(n / bands.length) * bands.length;
  const slot = (i * strideFor(slots)) % slots;
  const hue = FIRST_HUE + (slot * 360) / slots;
  const L = bands[slot % bands.length];
  return oklchToHex(L, CHROMA, hue);
}

/** The `count` colours of a pipeline's steps, in step order. */
export function stepColours(count: number): string[] {
  return Array.from({ length: Math.max(0, count) }, (_, i) =>
    stepColour(i, count)
  );
}

/** WCAG relative luminance of a `#rrggbb` / `rgb()` colour. */
export function luminance(colour: string): number {
  const [r, g, b] = parseColour(colour).map(c => decode(c / 255));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours (1 to 21). */
export function contrast(x: string, y: string): number {
  const [hi, lo] = [luminance(x), luminance(y)].sort((p, q) => q - p);
  return (hi + 0.05) / (lo + 0.05);
}

/** Black or white, whichever contrasts more as text on `background`. */
export function textOn(background: string): string {
  return contrast(background, '#000000') >= contrast(background, '#ffffff')
    ? '#000000'
    : '#ffffff';
}

/**
 * The colour of step `name` among a pipeline's steps (in pipeline order);
 * a neutral theme colour when the step is not one of them.
 */
export function colourOfStep(steps: readonly string[], name: string): string {
  const index = steps.indexOf(name);
  return index < 0
    ? 'var(--jp-border-color1)'
    : stepColour(index, steps.length);
}
