import { describe, expect, it } from "vitest";
import { modeName } from "../../lib/format";
import { defaultPair, formatDelta, mcnemarWords, recallChange } from "./compare";

const models = [
  { id: 30, number: 3 },
  { id: 20, number: 2 },
  { id: 10, number: 1 },
];

describe("defaultPair", () => {
  it("opens on the newest against the one before it", () => {
    expect(defaultPair(models, null, null)).toEqual({ a: 20, b: 30 });
    expect(defaultPair(models, null, 20)).toEqual({ a: 10, b: 20 });
  });

  it("honours the query, but never a against itself or an unknown version", () => {
    expect(defaultPair(models, 10, 30)).toEqual({ a: 10, b: 30 });
    expect(defaultPair(models, 30, 30)).toEqual({ a: 20, b: 30 });
    expect(defaultPair(models, 99, 10)).toEqual({ a: 30, b: 10 });
    expect(defaultPair([{ id: 1, number: 1 }], null, null)).toEqual({ a: null, b: 1 });
  });
});

describe("recallChange and mcnemarWords", () => {
  it("reads the interval", () => {
    expect(recallChange({ low: 0.02, high: 0.3 })).toBe("better");
    expect(recallChange({ low: -0.4, high: -0.01 })).toBe("worse");
    expect(recallChange({ low: -0.1, high: 0.2 })).toBe("unclear");
  });

  it("says who is better only when the test says so", () => {
    expect(mcnemarWords(0.002, 12, 1)).toMatch(/^B is better.*p = 0.002/);
    expect(mcnemarWords(0.0001, 0, 14)).toMatch(/^A is better.*p < 0.001/);
    expect(mcnemarWords(0.5, 3, 2)).toMatch(/could well be chance.*3 fixed against 2 broken/);
    expect(mcnemarWords(1, 0, 0)).toMatch(/same images/);
  });
});

describe("formatDelta and modeName", () => {
  it("signs the points and names the modes", () => {
    expect(formatDelta(0.125)).toBe("+12.5 pts");
    expect(formatDelta(-0.03)).toBe("−3.0 pts");
    expect(formatDelta(0)).toBe("0 pts");
    expect(modeName("quick")).toBe("fast");
    expect(modeName("finetune")).toBe("fine-tuned");
    expect(modeName("accurate")).toBe("accurate");
  });
});
