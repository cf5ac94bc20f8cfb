import { describe, expect, it } from "vitest";
import type { Project } from "../api/types";
import {
  modeTitle,
  backboneName,
  evaluatedOnText,
  formatBytes,
  formatDuration,
  formatLatency,
  formatLoss,
  formatNumber,
  formatPercent,
  formatRelative,
  isActive,
  labelColor,
  plural,
  projectAccuracy,
  stageLabel,
  statusLabel,
} from "./format";

describe("format", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5 MB");
    expect(formatBytes(250 * 1024 * 1024)).toBe("250 MB");
    expect(formatBytes(undefined)).toBe("—");
    expect(formatBytes(-1)).toBe("—");
  });

  it("formats fractions as percentages", () => {
    expect(formatPercent(0.9523)).toBe("95.2%");
    expect(formatPercent(1)).toBe("100%");
    expect(formatPercent(0.9, 0)).toBe("90%");
    expect(formatPercent(null)).toBe("—");
    expect(formatPercent(Number.NaN)).toBe("—");
  });

  it("formats counts, latency and durations", () => {
    expect(formatNumber(12345)).toBe("12,345");
    expect(plural(1, "image")).toBe("1 image");
    expect(plural(2, "image")).toBe("2 images");
    expect(formatLatency(0.4)).toBe("<1 ms");
    expect(formatLatency(12.6)).toBe("13 ms");
    expect(formatLatency(1500)).toBe("1.5 s");
    expect(formatDuration(5.25)).toBe("5.3 s");
    expect(formatDuration(125)).toBe("2 min 5 s");
    expect(formatDuration(120)).toBe("2 min");
  });

  it("writes small losses with significant digits, not as 0.000", () => {
    expect(formatLoss(0.000412)).toBe("0.00041");
    expect(formatLoss(0.6931)).toBe("0.69");
    expect(formatLoss(2.5)).toBe("2.50");
    expect(formatLoss(0)).toBe("0");
    expect(formatLoss(undefined)).toBe("—");
  });

  it("names the backbone and the images a model was measured on", () => {
    expect(backboneName("efficientnet_lite0")).toBe("EfficientNet-Lite0");
    expect(backboneName("resnet18")).toBe("resnet18");
    expect(evaluatedOnText("test", 12)).toBe("measured on 12 images of the test split");
    expect(evaluatedOnText("val (held out from train)", 1)).toBe("measured on 1 image held out from training");
    expect(evaluatedOnText("cross-validation", 40)).toBe(
      "measured by cross-validation on 40 images, each scored by a model that never saw it",
    );
    expect(evaluatedOnText(undefined, undefined)).toBe("");
  });

  it("says how long ago", () => {
    const now = new Date("2025-01-10T12:00:00Z");
    expect(formatRelative("2025-01-10T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2025-01-10T11:55:00Z", now)).toBe("5 minutes ago");
    expect(formatRelative("2025-01-10T09:00:00Z", now)).toBe("3 hours ago");
    expect(formatRelative("2025-01-07T12:00:00Z", now)).toBe("3 days ago");
    expect(formatRelative("not a date", now)).toBe("—");
  });

  it("names stages and statuses for people", () => {
    expect(stageLabel("embedding")).toMatch(/Reading the images/);
    expect(stageLabel("warming_up")).toBe("Warming up");
    expect(stageLabel("")).toBe("Starting");
    expect(statusLabel("succeeded")).toBe("Finished");
    expect(isActive("queued")).toBe(true);
    expect(isActive("running")).toBe(true);
    expect(isActive("failed")).toBe(false);
  });

  it("reads the latest accuracy whatever the field is called", () => {
    const base = { id: 1, name: "p", target_value: 0.9 } as Project;
    expect(projectAccuracy({ ...base, latest_accuracy: 0.8 })).toBe(0.8);
    expect(projectAccuracy({ ...base, latest_model: { id: 1, number: 1, accuracy: 0.7 } })).toBe(0.7);
    expect(projectAccuracy({ ...base, latest_accuracy: null })).toBeNull();
  });

  it("gives labels stable colours", () => {
    expect(labelColor("ants")).toBe(labelColor("ants"));
    expect(labelColor("x", 0)).not.toBe(labelColor("x", 1));
    expect(labelColor("x", 0, "#123456")).toBe("#123456");
  });
});

describe("modeTitle", () => {
  it("names every mode, accurate included (it once showed as Quick)", () => {
    expect(["quick", "accurate", "finetune"].map(modeTitle)).toEqual(["Fast", "Accurate", "Fine-tune"]);
    expect(modeTitle(null)).toBe("—");
  });
});
