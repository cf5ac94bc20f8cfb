import { describe, expect, it } from "vitest";
import { accuracyChange, ratio, speedChange } from "./Compression";

describe("fp32 / int8 comparison", () => {
  it("gives the accuracy change in points, signed", () => {
    expect(accuracyChange(0.9477, 0.9412)).toBe("−0.7 pts");
    expect(accuracyChange(0.9, 0.903)).toBe("+0.3 pts");
    expect(accuracyChange(0.95, 0.95)).toBe("same");
    expect(accuracyChange(undefined, 0.9)).toBe("");
  });

  it("says how many times smaller or faster", () => {
    expect(ratio(13_581_251, 3_607_553)).toBe("3.8×");
    expect(ratio(11.4, 8.8)).toBe("1.3×");
    expect(ratio(0, 5)).toBe("");
    expect(ratio(undefined, 5)).toBe("");
  });

  it("says faster or slower, whichever it is", () => {
    expect(speedChange(11.4, 8.8)).toBe("1.3× faster");
    expect(speedChange(27.8, 30.8)).toBe("1.1× slower");
    expect(speedChange(undefined, 8.8)).toBe("");
  });
});
