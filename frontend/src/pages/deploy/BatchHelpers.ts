/** Batch prediction: the API calls of the Deploy page's batch section, and the small pure helpers it shows. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { rows } from "../../api/adapters";
import { apiClient, call, xhrUpload, type UploadProgress } from "../../api/client";
import { mutationMeta, POLL_MS } from "../../api/hooks/keys";
import type { components } from "../../api/schema";
import { isActive } from "../../lib/format";

export type Batch = components["schemas"]["BatchOutput"];

export const batchKeys = {
  list: (slug: string) => ["deployments", slug, "batches"] as const,
};

/** The deployment's recent batches, polled every second while one is still running. */
export function useBatches(slug: string) {
  return useQuery({
    queryKey: batchKeys.list(slug),
    queryFn: async () =>
      rows(
        await call(
          apiClient.GET("/api/v1/deployments/{slug}/batches/", {
            params: { path: { slug }, query: { page_size: 10 } },
          }),
        ),
      ),
    refetchInterval: (query) => (query.state.data?.some((b) => isActive(b.status)) ? POLL_MS : false),
  });
}

/** POST /api/v1/deployments/{slug}/batches/ with a zip (multipart `archive`), reporting upload progress. */
export function batchUpload(
  slug: string,
  file: File,
  { onProgress, signal }: { onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {},
): Promise<Batch> {
  const form = new FormData();
  form.append("archive", file, file.name);
  return xhrUpload<Batch>(`deployments/${encodeURIComponent(slug)}/batches/`, form, { onProgress, signal });
}

/** Submit a batch of image addresses; the list is refreshed afterwards. */
export function useBatchUrls(slug: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (urls: string[]) =>
      call(apiClient.POST("/api/v1/deployments/{slug}/batches/", { params: { path: { slug } }, body: { urls } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: batchKeys.list(slug) }),
    meta: mutationMeta({ inlineError: true }),
  });
}

/** One address per line (commas and spaces also separate); blank lines are dropped. */
export function parseUrls(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
}

/** "120 of 10,000 images · 3 without a prediction" */
export function batchProgressText(batch: Pick<Batch, "done" | "total" | "failed">): string {
  const count = (n: number) => n.toLocaleString("en-US");
  const failed = batch.failed ? ` · ${count(batch.failed)} without a prediction` : "";
  return `${count(batch.done)} of ${count(batch.total)} images${failed}`;
}

/**
 * Seconds left, from the rate so far (null until the batch has started and written rows).
 */
export function batchSecondsLeft(
  batch: Pick<Batch, "done" | "total" | "started" | "status">,
  now: Date = new Date(),
): number | null {
  if (batch.status !== "running" || !batch.started || batch.done <= 0) return null;
  const elapsed = (now.getTime() - new Date(batch.started).getTime()) / 1000;
  if (elapsed <= 0) return null;
  return Math.max(0, Math.round(((batch.total - batch.done) * elapsed) / batch.done));
}
