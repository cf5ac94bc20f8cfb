import { describe, expect, it } from "vitest";
import type { TrainingMetrics } from "../../api/types";
import { intervalText, targetVerdict } from "./scores";

const interval = (low: number, high: number, images = 40) => ({ value: (low + high) / 2, low, high, images, too_few_images: high - low > 0.1 });

describe("target verdict rests on the 95% interval (issue 13)", () => {
  it("meets only when the interval's low end clears the target", () => {
    const sure: TrainingMetrics = { accuracy: 0.97, accuracy_interval: interval(0.92, 0.99, 2000) };
    expect(targetVerdict(sure, "accuracy", 0.9)).toBe("meets");
    const unsure: TrainingMetrics = { accuracy: 0.95, accuracy_interval: interval(0.83, 0.99) };
    expect(targetVerdict(unsure, "accuracy", 0.9)).toBe("may_meet");
    expect(targetVerdict({ accuracy: 0.8, accuracy_interval: interval(0.65, 0.9) }, "accuracy", 0.9)).toBe("below");
    expect(targetVerdict({}, "accuracy", 0.9)).toBeNull();
  });

  it("says how many test images back the score", () => {
    expect(intervalText(interval(0.83, 0.99))).toBe("95% interval 83%–99% · 40 test images");
  });
});
