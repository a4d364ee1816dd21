import {
  colourDistance,
  contrast,
  oklchToHex,
  stepColour,
  stepColours,
  textOn,
  toOklab
} from '../colours';

/** The smallest distance between two of the colours. */
function minDistance(colours: string[]): number {
  let min = Infinity;
  for (let i = 0; i < colours.length; i++) {
    for (let j = i + 1; j < colours.length; j++) {
      min = Math.min(min, colourDistance(colours[i], colours[j]));
    }
  }
  return min;
}

describe('step colours', () => {
  it.each([
    [1, 0],
    [2, 0.1],
    [5, 0.1],
    [10, 0.06],
    [11, 0.05],
    [20, 0.05],
    [21, 0.04],
    [25, 0.03],
    [40, 0.025],
    [60, 0.025]
  ])('%p steps: all distinct, at least %p apart in OKLab', (count, floor) => {
    const colours = stepColours(count);
    expect(colours).toHaveLength(count);
    expect(new Set(colours).size).toBe(count);
    for (const c of colours) {
      expect(c).toMatch(/^#[0-9a-f]{6}$/);
    }
    if (count > 1) {
      expect(minDistance(colours)).toBeGreaterThanOrEqual(floor);
    }
  });

  it('gives consecutive steps clearly different colours', () => {
    for (const count of [3, 8, 20, 60]) {
      const colours = stepColours(count);
      for (let i = 1; i < count; i++) {
        expect(colourDistance(colours[i - 1], colours[i])).toBeGreaterThan(0.1);
      }
    }
  });

  it('is stable and wraps out-of-range indices', () => {
    expect(stepColour(3, 7)).toBe(stepColour(3, 7));
    expect(stepColour(7, 7)).toBe(stepColour(0, 7));
    expect(stepColour(-1, 7)).toBe(stepColour(6, 7));
  });

  it.each([5, 20, 60])(
    '%p steps: marks stand out on light and dark themes, labels are readable',
    count => {
      for (const c of stepColours(count)) {
        // WCAG 3:1 for marks that are not text, on white and on #111...
        expect(contrast(c, '#ffffff')).toBeGreaterThanOrEqual(3);
        expect(contrast(c, '#111111')).toBeGreaterThanOrEqual(3);
        // ...and the step's name on its colour.
        expect(contrast(c, textOn(c))).toBeGreaterThanOrEqual(4.5);
      }
    }
  );

  it('converts OKLCH to sRGB within the gamut', () => {
    expect(oklchToHex(1, 0, 0)).toBe('#ffffff');
    expect(oklchToHex(0, 0, 0)).toBe('#000000');
    // Lightness is kept when the chroma has to be lowered.
    expect(toOklab(oklchToHex(0.76, 0.3, 264)).L).toBeCloseTo(0.76, 2);
  });

  it('reads computed styles and picks a readable label colour', () => {
    expect(colourDistance('rgb(255, 0, 0)', '#ff0000')).toBeCloseTo(0, 6);
    expect(textOn('#ffffff')).toBe('#000000');
    expect(textOn('#1f3a93')).toBe('#ffffff');
  });
});
