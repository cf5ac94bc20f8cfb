/** Small formatting helpers shared by the pages. */
import type { JobStatus, Project } from "../api/types";

const DASH = "—";

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return DASH;
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, "")} ${units[unit]}`;
}

/** 0.9523 -> "95.2%". Values are fractions (0..1), as the API sends them. */
export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${(value * 100).toFixed(digits).replace(/\.0+$/, "")}%`;
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return value.toLocaleString("en-US");
}

export function formatDecimal(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return value.toFixed(digits);
}

/** Loss values span orders of magnitude: two significant digits, never "0.000" for 0.0004. */
export function formatLoss(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  if (value === 0) return "0";
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return String(Number(value.toPrecision(2)));
}

const BACKBONES: Record<string, string> = {
  efficientnet_lite0: "EfficientNet-Lite0",
  efficientnet_lite1: "EfficientNet-Lite1",
  efficientnet_lite2: "EfficientNet-Lite2",
};
// Every training mode, in a sentence ("a fine-tuned model") and as a title (a badge, a
// column). "quick" is the stored name of fast mode.
const MODES: Record<string, { name: string; title: string }> = {
  quick: { name: "fast", title: "Fast" },
  accurate: { name: "accurate", title: "Accurate" },
  finetune: { name: "fine-tuned", title: "Fine-tune" },
};
/** A training mode in words, for a sentence. */
export function modeName(mode: string | null | undefined): string {
  if (!mode) return DASH;
  return MODES[mode]?.name ?? mode;
}

/** A training mode as a badge or a column names it: "Fast", "Accurate", "Fine-tune". */
export function modeTitle(mode: string | null | undefined): string {
  if (!mode) return DASH;
  return MODES[mode]?.title ?? mode;
}

export function backboneName(name: string | null | undefined): string {
  if (!name) return DASH;
  return BACKBONES[name] ?? name;
}

/** Which held-out images a model's figures come from, in words. */
export function evaluatedOnText(evaluatedOn: string | null | undefined, count: number | null | undefined): string {
  const n = typeof count === "number" ? count : null;
  const images = n === null ? "images" : n === 1 ? "1 image" : `${formatNumber(n)} images`;
  if (evaluatedOn === "test") return `measured on ${images} of the test split`;
  if (evaluatedOn === "val") return `measured on ${images} of the validation split`;
  // Quick mode with no test images: each image scored by a model trained without it.
  if (evaluatedOn === "cross-validation") return `measured by cross-validation on ${images}, each scored by a model that never saw it`;
  if (evaluatedOn) return `measured on ${images} held out from training`;
  return n === null ? "" : `measured on ${images} it never saw`;
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return DASH;
  return date.toLocaleString("en-GB", { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** "just now", "5 minutes ago", "3 days ago"; falls back to the date after a month. */
export function formatRelative(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return DASH;
  const seconds = Math.round((now.getTime() - date.getTime()) / 1000);
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${plural(minutes, "minute")} ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${plural(hours, "hour")} ago`;
  const days = Math.round(hours / 24);
  if (days < 31) return `${plural(days, "day")} ago`;
  return formatDateTime(iso);
}

/** "12.3 s", "2 min 5 s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return DASH;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return s ? `${m} min ${s} s` : `${m} min`;
}

const STAGES: Record<string, string> = {
  queued: "Waiting for a worker",
  preparing: "Preparing the data",
  embedding: "Reading the images (computing features)",
  training: "Training",
  evaluating: "Measuring accuracy",
  exporting: "Packaging the model",
  done: "Done",
};

export function stageLabel(stage: string | null | undefined): string {
  if (!stage) return "Starting";
  return STAGES[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1).replace(/_/g, " ");
}

export const ACTIVE_STATUSES: readonly JobStatus[] = ["queued", "running"];

export function isActive(status: string | null | undefined): boolean {
  return status === "queued" || status === "running";
}

export function statusLabel(status: string): string {
  switch (status) {
    case "queued":
      return "Queued";
    case "running":
      return "Running";
    case "succeeded":
      return "Finished";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
    default:
      return status;
  }
}

export function statusColor(status: string): string {
  switch (status) {
    case "queued":
      return "gray";
    case "running":
      return "blue";
    case "succeeded":
      return "teal";
    case "failed":
      return "red";
    case "cancelled":
      return "yellow";
    default:
      return "gray";
  }
}

/** The latest model's accuracy on a project list item, whatever the backend called the field. */
export function projectAccuracy(
  project: Pick<Project, "latest_accuracy"> & {
    latest_model_accuracy?: number | null;
    latest_model?: { id?: number; number?: number; accuracy?: number | null } | null;
  },
): number | null {
  if (typeof project.latest_accuracy === "number") return project.latest_accuracy;
  if (typeof project.latest_model_accuracy === "number") return project.latest_model_accuracy;
  const model = project.latest_model;
  if (model && typeof model.accuracy === "number") return model.accuracy;
  return null;
}

export function metricName(metric: string): string {
  return metric === "macro_f1" ? "Macro F1" : "Accuracy";
}

const SPLIT_NAMES: Record<string, string> = { train: "Train", val: "Validation", test: "Test", "": "Not assigned" };
export function splitLabel(split: string | null | undefined): string {
  return SPLIT_NAMES[split ?? ""] ?? split ?? "";
}

/** A stable, readable colour for a label without one. */
const PALETTE = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131", "#5f3dc4", "#66a80f", "#c2255c"];
export function labelColor(name: string | null | undefined, index?: number, explicit?: string): string {
  if (explicit) return explicit;
  if (index !== undefined && index >= 0) return PALETTE[index % PALETTE.length];
  if (!name) return "#868e96";
  let hash = 0;
  for (let i = 0; i < name.length; i += 1) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}
