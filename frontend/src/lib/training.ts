/** Turning a training job's metric history into chart rows. */
import type { HistoryPoint } from "../api/types";

export interface CurvePoint {
  x: number;
  loss?: number;
  val_loss?: number;
  train_accuracy?: number;
  val_accuracy?: number;
}

export interface ChartSeries {
  name: string;
  label: string;
  color: string;
}

function finite(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * Rows for the loss and accuracy charts. The x axis is the epoch (or the step when the
 * history counts steps); `accuracy` is read as the training accuracy when
 * `train_accuracy` is missing.
 */
export function historySeries(history: HistoryPoint[] | undefined | null): {
  points: CurvePoint[];
  hasLoss: boolean;
  accuracySeries: ChartSeries[];
  /** What the x axis counts: quick mode reports optimisation steps, fine-tuning epochs. */
  xLabel: "Epoch" | "Step";
} {
  const points: CurvePoint[] = (history ?? []).map((h, i) => {
    const point: CurvePoint = { x: finite(h.epoch) ?? finite(h.step) ?? i + 1 };
    const loss = finite(h.loss);
    const valLoss = finite(h.val_loss);
    const train = finite(h.train_accuracy) ?? finite(h.accuracy);
    const val = finite(h.val_accuracy);
    if (loss !== undefined) point.loss = loss;
    if (valLoss !== undefined) point.val_loss = valLoss;
    if (train !== undefined) point.train_accuracy = train;
    if (val !== undefined) point.val_accuracy = val;
    return point;
  });
  const accuracySeries: ChartSeries[] = [];
  if (points.some((p) => p.train_accuracy !== undefined))
    accuracySeries.push({ name: "train_accuracy", label: "Training accuracy", color: "crust.6" });
  if (points.some((p) => p.val_accuracy !== undefined))
    accuracySeries.push({ name: "val_accuracy", label: "Validation accuracy", color: "blue.6" });
  const byEpoch = (history ?? []).some((h) => finite(h.epoch) !== undefined);
  const bySteps = !byEpoch && (history ?? []).some((h) => finite(h.step) !== undefined);
  return {
    points,
    hasLoss: points.some((p) => p.loss !== undefined),
    accuracySeries,
    xLabel: bySteps ? "Step" : "Epoch",
  };
}

/** What the project's own last finished run of a mode measured: its accuracy and how long
 * it took (null when the mode never succeeded here). Jobs come newest first. */
export interface ModeRecord {
  accuracy: number | null;
  seconds: number | null;
}

export function modeRecord(
  jobs: ReadonlyArray<{ mode: string; status: string; metrics?: Record<string, unknown> | null }> | undefined,
  mode: string,
): ModeRecord | null {
  const job = jobs?.find((j) => j.mode === mode && j.status === "succeeded");
  if (!job) return null;
  return { accuracy: finite(job.metrics?.accuracy) ?? null, seconds: finite(job.metrics?.seconds) ?? null };
}
