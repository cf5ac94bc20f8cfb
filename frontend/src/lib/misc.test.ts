import { describe, expect, it } from "vitest";
import { imageFilterQuery, imageTarget, normalizeStats, rows } from "../api/adapters";
import { orderUncertainFirst } from "../pages/deploy/PredictionLog";
import type { PredictionLogEntry } from "../api/types";
import { heatColor, misclassifiedIn, parseCell, rowNormalize } from "./confusion";
import { absoluteUrl, curlSnippet, fetchSnippet, pythonSnippet } from "./snippets";
import { historySeries, modeRecord } from "./training";

describe("snippets", () => {
  const url = "http://127.0.0.1:8000/api/v1/predict/ants-1/";
  it("fill in the real URL and key", () => {
    for (const make of [curlSnippet, pythonSnippet, fetchSnippet]) {
      const code = make(url, "KEY123");
      expect(code).toContain(url);
      expect(code).toContain("Api-Key");
      expect(code).toContain("KEY123");
      expect(code).toContain("image");
    }
    expect(curlSnippet(url)).toContain("YOUR_API_KEY");
  });
  it("make relative URLs absolute", () => {
    expect(absoluteUrl("/api/v1/predict/x/", "http://h:8000")).toBe("http://h:8000/api/v1/predict/x/");
    expect(absoluteUrl("https://a/b/", "http://h")).toBe("https://a/b/");
  });
});

describe("confusion matrix", () => {
  it("normalises rows and colours mistakes apart from right answers", () => {
    expect(rowNormalize([[3, 1], [0, 0]])).toEqual([[0.75, 0.25], [0, 0]]);
    expect(heatColor(1, true)).toContain("12, 166, 120");
    expect(heatColor(1, false)).toContain("224, 49, 49");
  });
  it("finds the images behind a cell", () => {
    const items = [
      { id: 1, true: "ants", predicted: "bees", confidence: 0.9 },
      { id: 2, true: "bees", predicted: "ants", confidence: 0.6 },
    ];
    expect(misclassifiedIn(items, { trueLabel: "ants", predicted: "bees" }).map((m) => m.id)).toEqual([1]);
    expect(misclassifiedIn(items, null)).toHaveLength(2);
    expect(parseCell("1,0", ["a", "b"])).toEqual({ row: 1, col: 0 });
    expect(parseCell("5,0", ["a", "b"])).toBeNull();
    expect(parseCell("x", ["a"])).toBeNull();
  });
});

describe("training curves", () => {
  it("reads epochs, loss and both accuracies", () => {
    const { points, hasLoss, accuracySeries } = historySeries([
      { epoch: 1, loss: 0.9, accuracy: 0.6, val_accuracy: 0.55 },
      { epoch: 2, loss: 0.5, train_accuracy: 0.8, val_accuracy: 0.7 },
    ]);
    expect(points).toEqual([
      { x: 1, loss: 0.9, train_accuracy: 0.6, val_accuracy: 0.55 },
      { x: 2, loss: 0.5, train_accuracy: 0.8, val_accuracy: 0.7 },
    ]);
    expect(hasLoss).toBe(true);
    expect(accuracySeries.map((s) => s.name)).toEqual(["train_accuracy", "val_accuracy"]);
    expect(historySeries(undefined).points).toEqual([]);
  });

  it("counts steps on the x axis for quick mode's history (the shape apps/ml reports)", () => {
    const quick = historySeries([
      { step: 10, loss: 0.6, train_accuracy: 0.7, val_accuracy: 0.65 },
      { step: 20, loss: 0.4, train_accuracy: 0.9, val_accuracy: 0.8 },
    ]);
    expect(quick.xLabel).toBe("Step");
    expect(quick.points.map((p) => p.x)).toEqual([10, 20]);
    expect(historySeries([{ epoch: 1, loss: 0.5, val_loss: 0.6 }]).xLabel).toBe("Epoch");
  });
});

describe("endpoint helpers", () => {
  it("normalises the stats the datasets app answers", () => {
    const stats = normalizeStats({
      total: 10,
      labeled: 8,
      unlabeled: 2,
      labels: [{ id: 1, name: "ants", count: 5, splits: { train: 4, val: 1, test: 0, unassigned: 0 } }],
      splits: { train: 4, val: 1 },
      duplicates_rejected: 3,
      rejected: 1,
      warnings: [{ code: "few_images", message: "Add more." }],
    });
    expect(stats.per_label[0]).toEqual({ id: 1, label: "ants", count: 5, splits: { train: 4, val: 1, test: 0, unassigned: 0 } });
    expect(stats.per_split.train).toBe(4);
    expect(stats.duplicates_rejected).toBe(3);
    expect(stats.warnings).toHaveLength(1);
  });
  it("and the shape the issue describes", () => {
    const stats = normalizeStats({ total: 4, unlabeled: 1, per_label: [{ label: "bees", count: 3 }], per_split: {}, warnings: [] });
    expect(stats.per_label[0].label).toBe("bees");
    expect(stats.labeled).toBe(3);
  });
  it("builds image filters and bulk targets", () => {
    expect(imageFilterQuery({ label: "ants", split: "train" })).toEqual({ label: "ants", unlabeled: undefined, split: "train" });
    expect(imageFilterQuery({ label: "ants", unlabeled: true })).toEqual({ label: undefined, unlabeled: "true", split: undefined });
    expect(imageTarget([1, 2], {})).toEqual({ image_ids: [1, 2] });
    expect(imageTarget("filter", { unlabeled: true, split: "val" })).toEqual({ filter: { unlabeled: true, split: "val" } });
    expect(imageTarget("filter", { label: "bees" })).toEqual({ filter: { label: "bees" } });
  });
  it("reads paginated and plain lists", () => {
    expect(rows([1, 2])).toEqual([1, 2]);
    expect(rows({ count: 1, next: null, previous: null, results: [3] })).toEqual([3]);
    expect(rows(undefined)).toEqual([]);
  });
});

describe("prediction log order", () => {
  const p = (id: string, uncertain: boolean) => ({ id, uncertain }) as PredictionLogEntry;
  it("puts uncertain ones first without repeating them", () => {
    const ordered = orderUncertainFirst([p("e5", true), p("e2", true)], [p("e6", false), p("e5", true), p("e4", false), p("e2", true)]);
    expect(ordered.map((x) => x.id)).toEqual(["e5", "e2", "e6", "e4"]);
  });
});

describe("version references", () => {
  it("accept an id or a nested version", async () => {
    const { versionId } = await import("../api/adapters");
    expect(versionId(7)).toEqual({ id: 7 });
    expect(versionId({ id: 7, number: 3 })).toEqual({ id: 7, number: 3 });
    expect(versionId(null)).toEqual({ id: null });
  });
});

describe("new project labels", () => {
  it("keeps typed text that is not a tag yet, once each", async () => {
    const { mergeLabels } = await import("../pages/projects/NewProjectModal");
    expect(mergeLabels(["ants"], "bees, wasps,")).toEqual(["ants", "bees", "wasps"]);
    expect(mergeLabels(["ants", "Ants"], " ")).toEqual(["ants"]);
  });
});

describe("modeRecord", () => {
  it("reads the newest succeeded run of the mode and ignores the others", () => {
    const jobs = [
      { mode: "accurate", status: "failed", metrics: {} },
      { mode: "quick", status: "succeeded", metrics: { accuracy: 0.93, seconds: 4.2 } },
      { mode: "accurate", status: "succeeded", metrics: { accuracy: 0.96, seconds: 31 } },
      { mode: "quick", status: "succeeded", metrics: { accuracy: 0.9, seconds: 5 } },
    ];
    expect(modeRecord(jobs, "quick")).toEqual({ accuracy: 0.93, seconds: 4.2 });
    expect(modeRecord(jobs, "accurate")).toEqual({ accuracy: 0.96, seconds: 31 });
    expect(modeRecord(jobs, "finetune")).toBeNull();
    expect(modeRecord(undefined, "quick")).toBeNull();
  });
});
