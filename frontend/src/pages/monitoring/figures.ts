/** Plain functions behind the Monitoring page: chart rows, the label mix against the
 * training mix, the drift sentence and the threshold form's checks. */
import type { DriftState, MonitoringBucket, MonitoringWindow } from "./hooks";

export interface ChartRow {
  time: string;
  rpm: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  errors: number | null;
  uncertain: number | null;
  ood: number | null;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** A bucket's start as the axis shows it: the time of day for windows up to a day, the
 * date and hour beyond. */
export function bucketLabel(iso: string, window: MonitoringWindow): string {
  const d = new Date(iso);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (window === "1h" || window === "6h" || window === "24h") return time;
  return `${d.getMonth() + 1}/${d.getDate()} ${time}`;
}

const percent = (value: number | null | undefined) => (value == null ? null : Math.round(value * 1000) / 10);

/** One chart row per bucket; rates in percent, null where the bucket had no predictions
 * (the line breaks there rather than dropping to 0). */
export function chartRows(buckets: MonitoringBucket[], window: MonitoringWindow): ChartRow[] {
  return buckets.map((bucket) => ({
    time: bucketLabel(bucket.start, window),
    rpm: bucket.requests_per_minute,
    p50: bucket.latency_ms.p50 ?? null,
    p95: bucket.latency_ms.p95 ?? null,
    p99: bucket.latency_ms.p99 ?? null,
    errors: percent(bucket.error_rate),
    uncertain: percent(bucket.uncertain_rate),
    ood: percent(bucket.ood_rate),
  }));
}

/** Whether some value of these series stands alone, with no value in the bucket before or
 * after it: a line with gaps draws nothing there, so the chart must show dots (a deployment
 * asked a few times a day has only such buckets). */
export function hasLonePoints(rows: readonly ChartRow[], keys: readonly (keyof ChartRow)[]): boolean {
  return keys.some((key) =>
    rows.some((row, i) => row[key] != null && rows[i - 1]?.[key] == null && rows[i + 1]?.[key] == null),
  );
}

export interface MixRow {
  label: string;
  live: number;
  training: number;
}

/** Every label of either mix, in percent, the most predicted first. */
export function mixRows(live: Record<string, number>, training: Record<string, number>): MixRow[] {
  const labels = Array.from(new Set([...Object.keys(live), ...Object.keys(training)]));
  return labels
    .map((label) => ({
      label,
      live: Math.round((live[label] ?? 0) * 1000) / 10,
      training: Math.round((training[label] ?? 0) * 1000) / 10,
    }))
    .sort((a, b) => b.live - a.live || b.training - a.training || a.label.localeCompare(b.label));
}

/** Predicted labels per bucket, for the stacked chart of the mix over time (percent). */
export function mixOverTime(buckets: MonitoringBucket[], window: MonitoringWindow): Record<string, string | number>[] {
  return buckets
    .filter((bucket) => bucket.requests > 0)
    .map((bucket) => {
      const row: Record<string, string | number> = { time: bucketLabel(bucket.start, window) };
      for (const [label, count] of Object.entries(bucket.labels)) {
        row[label] = Math.round((count / bucket.requests) * 1000) / 10;
      }
      return row;
    });
}

export const STATUS_COLOR: Record<DriftState["status"], string> = { ok: "teal", warning: "yellow", alert: "red" };

/** The drift card's sentence. */
export function driftSentence(drift: Pick<DriftState, "status" | "p_value" | "window" | "checked_at">): string {
  if (!drift.checked_at) {
    return "Not checked yet: drift is tested once the deployment has answered at least 100 predictions of a model with a training reference.";
  }
  const p = drift.p_value == null ? "?" : formatP(drift.p_value);
  if (drift.status === "alert") {
    return `The last ${drift.window} predictions differ from the training images (p = ${p}): the pictures sent now are not like the ones the model learned from.`;
  }
  if (drift.status === "warning") {
    return `The last ${drift.window} predictions may be drifting (p = ${p}); nothing is sent until it crosses the alert threshold.`;
  }
  return `The last ${drift.window} predictions look like the training images (p = ${p}).`;
}

/** A p-value as a person reads it. */
export function formatP(p: number): string {
  if (p < 0.0001) return "< 0.0001";
  if (p < 0.01) return p.toPrecision(2);
  return p.toFixed(3);
}

/** What is wrong with the threshold form, or null. */
export function thresholdError(values: { alert_p: number; warning_p: number; window: number }): string | null {
  if (!(values.alert_p > 0) || !(values.alert_p <= values.warning_p) || !(values.warning_p < 1)) {
    return "The alert threshold must be above 0 and at most the warning threshold, which must be under 1.";
  }
  if (!Number.isInteger(values.window) || values.window < 100 || values.window > 5000) {
    return "The window must hold between 100 and 5000 predictions.";
  }
  return null;
}
