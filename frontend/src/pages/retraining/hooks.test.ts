import { describe, expect, it } from "vitest";
import { policySummary } from "./hooks";

const base = { enabled: true, new_labels: null, on_drift: false, every_hours: null, gate_min_requests: 200 };

describe("policySummary", () => {
  it("says a disabled policy never retrains", () => {
    expect(policySummary({ ...base, enabled: false, new_labels: 5 })).toMatch(/^Off/);
  });
  it("joins every reason and names the gate", () => {
    expect(policySummary({ ...base, new_labels: 50, on_drift: true, every_hours: 1 })).toBe(
      "Retrains after 50 new labels, on a drift alert or every 1 hour; the new model runs in shadow beside the live one and is promoted automatically after 200 requests if the comparison favours it.",
    );
  });
  it("says when promotion is left to the user", () => {
    expect(policySummary({ ...base, every_hours: 24, gate_min_requests: null })).toContain("promoted only by hand");
  });
});
