/**
 * Uploading many files: small batches (8 files a request), a few requests in flight,
 * and one bad file or failed request never stops the rest. Zips and CSVs go to the
 * import endpoint instead (they are unpacked on the server as a background job).
 */
import { errorMessage, type UploadProgress } from "../api/client";
import type { UploadReport as FullReport } from "../api/types";

/** What the uploader keeps of the server's report (the schema's IngestReport). */
export interface UploadReport {
  created: Array<Pick<FullReport["created"][number], "id" | "filename">>;
  duplicates: Array<Pick<FullReport["duplicates"][number], "filename"> & Partial<FullReport["duplicates"][number]>>;
  rejected: Array<Pick<FullReport["rejected"][number], "filename" | "error">>;
}

export const BATCH_SIZE = 8;
export const CONCURRENCY = 3;

export type FileStatus = "waiting" | "uploading" | "created" | "duplicate" | "rejected" | "failed";

export interface FileOutcome {
  status: Exclude<FileStatus, "waiting" | "uploading">;
  message?: string;
}

const ARCHIVE_EXTENSIONS = [".zip", ".csv"];

export function isArchive(file: { name: string }): boolean {
  const name = file.name.toLowerCase();
  return ARCHIVE_EXTENSIONS.some((ext) => name.endsWith(ext));
}

/** Splits a drop into image files (batched uploads) and archives (import jobs). */
export function partitionFiles<T extends { name: string }>(files: readonly T[]): { images: T[]; archives: T[] } {
  const images: T[] = [];
  const archives: T[] = [];
  for (const file of files) (isArchive(file) ? archives : images).push(file);
  return { images, archives };
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) throw new Error("chunk size must be at least 1");
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs `worker` over `items` with at most `limit` running at once; resolves when all settle. */
export async function runWithConcurrency<T>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      if (signal?.aborted) return;
      const index = next;
      next += 1;
      await worker(items[index], index);
    }
  });
  await Promise.all(lanes);
}

/**
 * Matches the server's report back to the files of one batch, by file name in order
 * (two files of the same name in a batch are matched first to first).
 */
export function outcomesForBatch(names: readonly string[], report: Partial<UploadReport>): FileOutcome[] {
  const outcomes: Array<FileOutcome | undefined> = names.map(() => undefined);
  const claim = (filename: string, outcome: FileOutcome) => {
    const at = names.findIndex((name, i) => name === filename && outcomes[i] === undefined);
    if (at >= 0) outcomes[at] = outcome;
  };
  for (const item of report.rejected ?? []) claim(item.filename, { status: "rejected", message: item.error });
  for (const item of report.duplicates ?? [])
    claim(item.filename, { status: "duplicate", message: "Already in this project" });
  for (const item of report.created ?? []) claim(item.filename, { status: "created" });
  // A file the server did not mention was accepted (the request succeeded).
  return outcomes.map((o) => o ?? { status: "created" });
}

/**
 * Batches of file indexes; files of different groups (e.g. different folder labels)
 * never share a batch, because one request carries one label.
 */
export function makeBatches<F>(files: readonly F[], size: number, groupOf?: (file: F) => string): number[][] {
  if (!groupOf) return chunk(files.map((_, i) => i), size);
  const groups = new Map<string, number[]>();
  files.forEach((file, i) => {
    const key = groupOf(file);
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  return [...groups.values()].flatMap((indexes) => chunk(indexes, size));
}

/**
 * The folder a dropped file came from ("ants" for "ants/1.jpg" or "/data/ants/1.jpg"),
 * or "" for a loose file. Browsers put the relative path in `path` (react-dropzone)
 * or `webkitRelativePath` (a folder picker).
 */
export function folderOf(file: { name: string; path?: string; webkitRelativePath?: string }): string {
  const full = (file.path || file.webkitRelativePath || "").replace(/\\/g, "/");
  const parts = full.split("/").filter((p) => p && p !== ".");
  return parts.length >= 2 ? parts[parts.length - 2] : "";
}

export function emptyReport(): UploadReport {
  return { created: [], duplicates: [], rejected: [] };
}

export function mergeReports(into: UploadReport, add: Partial<UploadReport>): UploadReport {
  return {
    created: [...into.created, ...(add.created ?? [])],
    duplicates: [...into.duplicates, ...(add.duplicates ?? [])],
    rejected: [...into.rejected, ...(add.rejected ?? [])],
  };
}

export interface BatchUploadCallbacks<F> {
  /** Sends one batch; resolves with the server's report. */
  send: (
    batch: F[],
    onProgress: (p: UploadProgress) => void,
    signal?: AbortSignal,
  ) => Promise<Partial<UploadReport>>;
  /** Files with different group keys go in different requests. */
  groupOf?: (file: F) => string;
  /** A batch started (status "uploading") with these file indexes. */
  onBatchStart?: (batchIndex: number, fileIndexes: number[]) => void;
  /** Upload progress of a batch, 0..1. */
  onBatchProgress?: (batchIndex: number, fraction: number) => void;
  /** The outcome of each file of a finished batch. */
  onBatchDone?: (batchIndex: number, fileIndexes: number[], outcomes: FileOutcome[]) => void;
  batchSize?: number;
  concurrency?: number;
  signal?: AbortSignal;
}

export interface BatchUploadSummary {
  created: number;
  duplicates: number;
  rejected: number;
  failed: number;
  report: UploadReport;
}

/** Uploads `files` in batches; a failed request marks only its own files as failed. */
export async function uploadInBatches<F extends { name: string }>(
  files: readonly F[],
  callbacks: BatchUploadCallbacks<F>,
): Promise<BatchUploadSummary> {
  const batchSize = callbacks.batchSize ?? BATCH_SIZE;
  const batches = makeBatches(files, batchSize, callbacks.groupOf);
  let report = emptyReport();
  const summary = { created: 0, duplicates: 0, rejected: 0, failed: 0 };

  await runWithConcurrency(
    batches,
    callbacks.concurrency ?? CONCURRENCY,
    async (fileIndexes, batchIndex) => {
      const batch = fileIndexes.map((i) => files[i]);
      callbacks.onBatchStart?.(batchIndex, fileIndexes);
      let outcomes: FileOutcome[];
      try {
        const answer = await callbacks.send(
          batch,
          (p) => callbacks.onBatchProgress?.(batchIndex, p.total ? p.loaded / p.total : 0),
          callbacks.signal,
        );
        report = mergeReports(report, answer ?? {});
        outcomes = outcomesForBatch(
          batch.map((f) => f.name),
          answer ?? {},
        );
      } catch (error) {
        const message = errorMessage(error);
        outcomes = batch.map(() => ({ status: "failed" as const, message }));
      }
      for (const outcome of outcomes) {
        if (outcome.status === "created") summary.created += 1;
        else if (outcome.status === "duplicate") summary.duplicates += 1;
        else if (outcome.status === "rejected") summary.rejected += 1;
        else summary.failed += 1;
      }
      callbacks.onBatchDone?.(batchIndex, fileIndexes, outcomes);
    },
    callbacks.signal,
  );
  return { ...summary, report };
}
