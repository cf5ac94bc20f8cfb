/** Small pure helpers between the API's shapes and the pages' (no requests here). */
import type { BulkSelection, DatasetStats, ImageFilter, Paginated } from "./types";

/** Some list endpoints paginate and some do not; the app only needs the rows. */
export function rows<T>(data: T[] | Paginated<T> | null | undefined): T[] {
  if (!data) return [];
  return Array.isArray(data) ? data : data.results;
}

/** The image list's query parameters for a filter ("none" = not assigned to a split yet). */
export function imageFilterQuery(filter: ImageFilter): {
  label?: string;
  unlabeled?: "true";
  split?: string;
  filename?: string;
  /** `meta.<column>` parameters; absent without a metadata filter. */
  meta?: Record<string, string>;
} {
  return {
    label: filter.unlabeled ? undefined : filter.label || undefined,
    unlabeled: filter.unlabeled ? "true" : undefined,
    split: filter.split || undefined,
    filename: filter.filename?.trim() || undefined,
    meta: filter.meta && Object.keys(filter.meta).length ? metaParams(filter.meta) : undefined,
  };
}

/** The metadata filter as the API takes it: one `meta.<column>` parameter (or key) per column. */
export function metaParams(meta: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(meta ?? {})) out[`meta.${key}`] = value;
  return out;
}

/** Either explicit ids or "everything matching this filter". */
export type ImageTarget = { image_ids: number[] } | { filter: NonNullable<BulkSelection["filter"]> };

export function imageTarget(ids: number[] | "filter", filter: ImageFilter): ImageTarget {
  if (ids !== "filter") return { image_ids: ids };
  const out: NonNullable<BulkSelection["filter"]> = {};
  if (filter.unlabeled) out.unlabeled = true;
  else if (filter.label) out.label = filter.label;
  if (filter.split) out.split = filter.split as NonNullable<BulkSelection["filter"]>["split"];
  if (filter.filename?.trim()) out.filename = filter.filename.trim();
  // The server reads meta.<column> keys of the filter like the list's query parameters
  // (the schema documents only the fixed keys).
  Object.assign(out, metaParams(filter.meta));
  return { filter: out };
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** The stats as the pages read them: from the API's ({labels:[{name,count,splits}], splits})
 * and from the contract wording ({per_label:[{label,count}], per_split}). */
export function normalizeStats(raw: Record<string, unknown>): DatasetStats {
  const rawLabels = (Array.isArray(raw.labels) ? raw.labels : Array.isArray(raw.per_label) ? raw.per_label : []) as Array<
    Record<string, unknown>
  >;
  const perLabel = rawLabels.map((row) => ({
    id: typeof row.id === "number" ? row.id : undefined,
    label: String(row.name ?? row.label ?? ""),
    count: num(row.count),
    splits: (typeof row.splits === "object" && row.splits !== null ? row.splits : {}) as Record<string, number>,
  }));
  const splits = (raw.splits ?? raw.per_split ?? {}) as Record<string, number>;
  const total = num(raw.total);
  const unlabeled = num(raw.unlabeled);
  return {
    total,
    unlabeled,
    labeled: typeof raw.labeled === "number" ? raw.labeled : total - unlabeled,
    per_label: perLabel,
    per_split: splits,
    duplicates_rejected: num(raw.duplicates_rejected),
    rejected: num(raw.rejected),
    warnings: Array.isArray(raw.warnings) ? (raw.warnings as DatasetStats["warnings"]) : [],
  };
}

type VersionRef = number | { id: number; number?: number } | null;

/** A model version may come as an id or as a nested {id, number}; the app keeps the id. */
export function versionId(ref: VersionRef | undefined): { id: number | null; number?: number } {
  if (ref && typeof ref === "object") return { id: ref.id, number: ref.number };
  return { id: typeof ref === "number" ? ref : null };
}
