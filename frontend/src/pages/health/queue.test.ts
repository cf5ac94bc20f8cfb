import { describe, expect, it } from "vitest";
import type { HealthReport } from "../../api/hooks/health";
import { buildFixQueue, duplicateCopy, expectedErrors, expectedErrorsText, groupIds, queueKeyAction } from "./queue";

const report: HealthReport = {
  status: "ready",
  error: "",
  model_version: 7,
  model_version_number: 2,
  computed_at: "2025-01-01T00:00:00Z",
  cv_accuracy: { value: 0.93, low: 0.9, high: 0.95, images: 240 },
  label_issues: [
    { image: 1, label: "ants", suggested: "bees", score: 0.6 },
    { image: 2, label: "bees", suggested: "ants", score: 0.97 },
  ],
  near_duplicates: [
    { images: [3, 4], similarity: 0.99, cross_split: false },
    { images: [5, 6], similarity: 0.96, cross_split: true },
  ],
  outliers: [
    { image: 8, score: 0.2 },
    { image: 7, score: 0.4 },
  ],
};

describe("buildFixQueue", () => {
  it("puts likely wrong labels first, then leaking duplicates, same-split duplicates and strangers", () => {
    expect(buildFixQueue(report).map((item) => item.key)).toEqual([
      "label:2",
      "label:1",
      "duplicate:5-6",
      "duplicate:3-4",
      "outlier:7",
      "outlier:8",
    ]);
  });

  it("leaves out what was handled and answers nothing without a report", () => {
    expect(buildFixQueue(report, new Set(["label:2", "outlier:7"])).map((item) => item.key)).toEqual([
      "label:1",
      "duplicate:5-6",
      "duplicate:3-4",
      "outlier:8",
    ]);
    expect(buildFixQueue(undefined)).toEqual([]);
  });
});

describe("duplicateCopy", () => {
  it("keeps the test image of a leaking pair and acts on the other", () => {
    const [leak] = buildFixQueue({ ...report, label_issues: [], outliers: [] });
    if (leak.kind !== "duplicate") throw new Error("expected a duplicate");
    expect(duplicateCopy(leak, (id) => (id === 6 ? "train" : "test"))).toBe(6);
    expect(duplicateCopy(leak, (id) => (id === 5 ? "train" : "test"))).toBe(5);
    expect(duplicateCopy({ ...leak, crossSplit: false }, () => "train")).toBe(6);
  });
});

describe("queueKeyAction", () => {
  it("maps the shortcuts and leaves the browser's own alone", () => {
    expect(queueKeyAction({ key: "j" })).toBe("next");
    expect(queueKeyAction({ key: "ArrowDown" })).toBe("next");
    expect(queueKeyAction({ key: "ArrowUp" })).toBe("previous");
    expect(queueKeyAction({ key: "a" })).toBe("accept");
    expect(queueKeyAction({ key: "k" })).toBe("keep");
    expect(queueKeyAction({ key: "d" })).toBe("delete");
    expect(queueKeyAction({ key: "t" })).toBe("test");
    expect(queueKeyAction({ key: "?" })).toBe("help");
    expect(queueKeyAction({ key: "d", ctrlKey: true })).toBeNull();
    expect(queueKeyAction({ key: "x" })).toBeNull();
  });
});

describe("bulk helpers", () => {
  it("groups ids per label in first-seen order", () => {
    const groups = groupIds(
      [
        { id: 1, label: "bees" },
        { id: 2, label: "ants" },
        { id: 3, label: "bees" },
      ],
      (x) => x.label,
      (x) => x.id,
    );
    expect([...groups.entries()]).toEqual([
      ["bees", [1, 3]],
      ["ants", [2]],
    ]);
  });

  it("expects the sum of 1 - confidence errors and says it plainly", () => {
    const accepted = Array.from({ length: 120 }, () => ({ confidence: 0.975 }));
    expect(expectedErrors(accepted)).toBeCloseTo(3);
    expect(expectedErrorsText(expectedErrors(accepted), 120)).toBe("About 3 of these 120 are probably wrong.");
    expect(expectedErrorsText(0.2, 10)).toBe("Probably none of these 10 is wrong.");
    expect(expectedErrorsText(1.1, 10)).toBe("About 1 of these 10 is probably wrong.");
    expect(expectedErrorsText(0, 0)).toBe("Nothing to accept at this threshold.");
  });
});
