import { describe, expect, it } from "vitest";
import { batchProgressText, batchSecondsLeft, parseUrls } from "./BatchHelpers";

describe("parseUrls", () => {
  it("takes one address per line and drops blanks", () => {
    expect(parseUrls("https://a.example/1.jpg\n\n  https://a.example/2.jpg  \n")).toEqual([
      "https://a.example/1.jpg",
      "https://a.example/2.jpg",
    ]);
  });
  it("also splits on commas and spaces", () => {
    expect(parseUrls("https://a.example/1.jpg, https://a.example/2.jpg https://a.example/3.jpg")).toHaveLength(3);
  });
});

describe("batchProgressText", () => {
  it("counts rows and failures", () => {
    expect(batchProgressText({ done: 1200, total: 10000, failed: 0 })).toBe("1,200 of 10,000 images");
    expect(batchProgressText({ done: 10, total: 10, failed: 3 })).toBe("10 of 10 images · 3 without a prediction");
  });
});

describe("batchSecondsLeft", () => {
  const started = "2026-01-01T00:00:00Z";
  it("extrapolates the rate so far", () => {
    const now = new Date("2026-01-01T00:00:10Z");
    expect(batchSecondsLeft({ status: "running", started, done: 100, total: 1000 }, now)).toBe(90);
  });
  it("is unknown before the first rows and once finished", () => {
    const now = new Date("2026-01-01T00:00:10Z");
    expect(batchSecondsLeft({ status: "running", started, done: 0, total: 1000 }, now)).toBeNull();
    expect(batchSecondsLeft({ status: "succeeded", started, done: 1000, total: 1000 }, now)).toBeNull();
    expect(batchSecondsLeft({ status: "queued", started: null, done: 0, total: 1000 }, now)).toBeNull();
  });
});
