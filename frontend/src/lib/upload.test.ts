import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import {
  chunk,
  folderOf,
  isArchive,
  makeBatches,
  outcomesForBatch,
  partitionFiles,
  runWithConcurrency,
  uploadInBatches,
} from "./upload";

const file = (name: string, path?: string) => ({ name, path });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("splitting a drop", () => {
  it("chunks into batches of at most n", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 8)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow();
  });

  it("sends zips and CSVs to the import endpoint", () => {
    const { images, archives } = partitionFiles([file("a.jpg"), file("b.ZIP"), file("c.png"), file("urls.csv")]);
    expect(images.map((f) => f.name)).toEqual(["a.jpg", "c.png"]);
    expect(archives.map((f) => f.name)).toEqual(["b.ZIP", "urls.csv"]);
    expect(isArchive({ name: "x.zip.jpg" })).toBe(false);
  });

  it("reads the folder a file was dropped from", () => {
    expect(folderOf({ name: "1.jpg", path: "/data/ants/1.jpg" })).toBe("ants");
    expect(folderOf({ name: "1.jpg", path: "./bees/1.jpg" })).toBe("bees");
    expect(folderOf({ name: "1.jpg", webkitRelativePath: "set/wasps/1.jpg" })).toBe("wasps");
    expect(folderOf({ name: "1.jpg", path: "1.jpg" })).toBe("");
    expect(folderOf({ name: "1.jpg" })).toBe("");
  });

  it("never mixes folders (labels) in one batch", () => {
    const files = [file("1", "a/1"), file("2", "b/2"), file("3", "a/3"), file("4", "a/4")];
    expect(makeBatches(files, 2, folderOf)).toEqual([[0, 2], [3], [1]]);
    expect(makeBatches(files, 3)).toEqual([[0, 1, 2], [3]]);
  });
});

describe("matching the server's report to files", () => {
  it("matches by name, first to first", () => {
    const outcomes = outcomesForBatch(["a.jpg", "b.txt", "a.jpg", "c.jpg"], {
      created: [{ id: 1, filename: "a.jpg" }],
      duplicates: [{ filename: "a.jpg", existing_id: 1 }],
      rejected: [{ filename: "b.txt", error: "This is not an image." }],
    });
    expect(outcomes.map((o) => o.status)).toEqual(["duplicate", "rejected", "created", "created"]);
    expect(outcomes[1].message).toBe("This is not an image.");
  });
});

describe("runWithConcurrency", () => {
  it("keeps at most `limit` workers running and runs every item", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runWithConcurrency([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await sleep(5);
      done.push(n);
      running -= 1;
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("uploadInBatches", () => {
  it("uploads 8 files a request, 3 requests at a time", async () => {
    const files = Array.from({ length: 50 }, (_, i) => file(`${i}.jpg`));
    const sizes: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const summary = await uploadInBatches(files, {
      send: async (batch, onProgress) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        sizes.push(batch.length);
        onProgress({ loaded: 1, total: 2 });
        await sleep(2);
        inFlight -= 1;
        return { created: batch.map((f, i) => ({ id: i, filename: f.name })), duplicates: [], rejected: [] };
      },
    });
    expect(sizes.sort((a, b) => b - a)).toEqual([8, 8, 8, 8, 8, 8, 2]);
    expect(peak).toBe(3);
    expect(summary.created).toBe(50);
    expect(summary.report.created).toHaveLength(50);
  });

  it("a failed request fails only its own files; the rest go on", async () => {
    const files = Array.from({ length: 20 }, (_, i) => file(`${i}.jpg`));
    const failedFiles: number[] = [];
    const progress: Array<[number, number]> = [];
    const summary = await uploadInBatches(files, {
      batchSize: 8,
      concurrency: 2,
      send: async (batch, onProgress) => {
        onProgress({ loaded: 50, total: 100 });
        if (batch[0].name === "8.jpg") throw new ApiError("The upload is too big.", { status: 413, code: "too_large" });
        return {
          created: batch.filter((f) => f.name !== "3.jpg").map((f, i) => ({ id: i, filename: f.name })),
          rejected: batch.filter((f) => f.name === "3.jpg").map((f) => ({ filename: f.name, error: "Not an image." })),
          duplicates: [],
        };
      },
      onBatchProgress: (b, fraction) => progress.push([b, fraction]),
      onBatchDone: (_b, indexes, outcomes) =>
        outcomes.forEach((o, k) => o.status === "failed" && failedFiles.push(indexes[k])),
    });
    expect(summary.failed).toBe(8);
    expect(summary.rejected).toBe(1);
    expect(summary.created).toBe(11);
    expect(failedFiles).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(progress).toContainEqual([0, 0.5]);
  });
});
