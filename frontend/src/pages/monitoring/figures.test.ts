import { describe, expect, it } from "vitest";
import { bucketLabel, chartRows, driftSentence, formatP, hasLonePoints, mixOverTime, mixRows, thresholdError } from "./figures";
import type { MonitoringBucket } from "./hooks";

const bucket = (start: string, requests: number, extra: Partial<MonitoringBucket> = {}): MonitoringBucket => ({
  start,
  requests,
  requests_per_minute: requests,
  latency_ms: { p50: requests ? 10 : null, p95: requests ? 20 : null, p99: requests ? 30 : null },
  failed_requests: 0,
  error_rate: requests ? 0.01 : null,
  uncertain_rate: requests ? 0.25 : null,
  ood_rate: requests ? 0.123 : null,
  labels: requests ? { ants: requests - 1, bees: 1 } : {},
  ...extra,
});

describe("chart rows", () => {
  it("gives rates in percent and leaves empty buckets null", () => {
    const rows = chartRows([bucket("2026-01-02T10:05:00Z", 4), bucket("2026-01-02T10:06:00Z", 0)], "1h");
    expect(rows[0]).toMatchObject({ rpm: 4, p50: 10, p99: 30, errors: 1, uncertain: 25, ood: 12.3 });
    expect(rows[1]).toMatchObject({ rpm: 0, p50: null, errors: null, uncertain: null, ood: null });
  });

  it("finds a value with empty buckets on both sides, which a line alone would not draw", () => {
    const lone = chartRows([bucket("2026-01-02T10:05:00Z", 0), bucket("2026-01-02T10:06:00Z", 3), bucket("2026-01-02T10:07:00Z", 0)], "1h");
    expect(hasLonePoints(lone, ["p50"])).toBe(true);
    expect(hasLonePoints(lone.slice(1), ["p50"])).toBe(true); // at the window's edge
    const joined = chartRows([bucket("2026-01-02T10:05:00Z", 2), bucket("2026-01-02T10:06:00Z", 3), bucket("2026-01-02T10:07:00Z", 0)], "1h");
    expect(hasLonePoints(joined, ["p50", "uncertain"])).toBe(false);
    expect(hasLonePoints(chartRows([], "1h"), ["p50"])).toBe(false);
  });

  it("labels short windows by time of day and long ones by date", () => {
    expect(bucketLabel("2026-01-02T10:05:00", "24h")).toBe("10:05");
    expect(bucketLabel("2026-01-02T10:05:00", "7d")).toBe("1/2 10:05");
  });
});

describe("label mix", () => {
  it("lists every label of either mix, most predicted first", () => {
    expect(mixRows({ bees: 0.7, ants: 0.3 }, { ants: 0.5, bees: 0.4, wasps: 0.1 })).toEqual([
      { label: "bees", live: 70, training: 40 },
      { label: "ants", live: 30, training: 50 },
      { label: "wasps", live: 0, training: 10 },
    ]);
  });

  it("gives each non-empty bucket's mix in percent", () => {
    const rows = mixOverTime([bucket("2026-01-02T10:05:00", 4), bucket("2026-01-02T10:06:00", 0)], "1h");
    expect(rows).toEqual([{ time: "10:05", ants: 75, bees: 25 }]);
  });
});

describe("drift", () => {
  it("says what the status means", () => {
    expect(driftSentence({ status: "ok", p_value: null, window: 0, checked_at: null })).toMatch(/Not checked yet/);
    expect(driftSentence({ status: "alert", p_value: 0.00001, window: 400, checked_at: "x" })).toMatch(/last 400 .*\(p = < 0\.0001\)/);
    expect(driftSentence({ status: "warning", p_value: 0.02, window: 400, checked_at: "x" })).toMatch(/may be drifting/);
    expect(formatP(0.0042)).toBe("0.0042");
    expect(formatP(0.5)).toBe("0.500");
  });

  it("checks the thresholds as the server does", () => {
    expect(thresholdError({ alert_p: 0.005, warning_p: 0.05, window: 400 })).toBeNull();
    expect(thresholdError({ alert_p: 0, warning_p: 0.05, window: 400 })).toMatch(/above 0/);
    expect(thresholdError({ alert_p: 0.1, warning_p: 0.05, window: 400 })).toMatch(/at most/);
    expect(thresholdError({ alert_p: 0.01, warning_p: 1, window: 400 })).toMatch(/under 1/);
    expect(thresholdError({ alert_p: 0.01, warning_p: 0.05, window: 50 })).toMatch(/window/);
  });
});
