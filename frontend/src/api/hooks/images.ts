/** A project's images: the grid's pages, one image, its history, the counts, and the
 * writes on them (label, split, bulk label, delete). */
import {
  keepPreviousData,
  useInfiniteQuery,
  useMutation,
  useQueries,
  useQuery,
  useQueryClient,
  type InfiniteData,
} from "@tanstack/react-query";
import { useCallback, useRef } from "react";
import { imageFilterQuery, imageTarget, normalizeStats, rows } from "../adapters";
import { apiClient, call } from "../client";
import type { components } from "../schema";
import type { ImageFilter, ImageItem, ImageUpdate, Paginated } from "../types";
import { keys, mutationMeta, type MutationOptions } from "./keys";

export const IMAGE_PAGE_SIZE = 200;

function imagePath(projectId: number, imageId: number) {
  return { params: { path: { project_id: projectId, image_id: imageId } } };
}

function imageGet(projectId: number, imageId: number) {
  return call(apiClient.GET("/api/v1/projects/{project_id}/images/{image_id}/", imagePath(projectId, imageId)));
}

export function imageUpdate(projectId: number, imageId: number, body: ImageUpdate) {
  return call(apiClient.PATCH("/api/v1/projects/{project_id}/images/{image_id}/", { ...imagePath(projectId, imageId), body }));
}

export function imageDelete(projectId: number, imageId: number) {
  return call(apiClient.DELETE("/api/v1/projects/{project_id}/images/{image_id}/", imagePath(projectId, imageId)));
}

/** Puts labels back as they were (an Undo): one bulk request per previous label. */
export async function imagesLabelRestore(projectId: number, previous: Map<number, string | null>) {
  const byLabel = new Map<string | null, number[]>();
  for (const [id, label] of previous) byLabel.set(label, [...(byLabel.get(label) ?? []), id]);
  for (const [label, ids] of byLabel) {
    for (let i = 0; i < ids.length; i += 10_000) {
      await call(
        apiClient.POST("/api/v1/projects/{project_id}/images/bulk-label/", {
          params: { path: { project_id: projectId } },
          body: { image_ids: ids.slice(i, i + 10_000), label },
        }),
      );
    }
  }
}

export type MetadataColumn = components["schemas"]["MetadataColumn"];

/** Under the images' key: anything that changes images (a CSV, a delete) refreshes it. */
export const metadataColumnsKey = (projectId: number) => [...keys.images(projectId), "metadata-columns"] as const;

/** The metadata columns of the project's images with their values: the filter's choices. */
export function useMetadataColumns(projectId: number) {
  return useQuery({
    queryKey: metadataColumnsKey(projectId),
    queryFn: () =>
      call(apiClient.GET("/api/v1/projects/{project_id}/metadata/", { params: { path: { project_id: projectId } } })),
    select: (data) => data.columns,
  });
}

/** Every image matching the filter, a page of 200 at a time as the grid scrolls. */
export function useImagePages(projectId: number, filter: ImageFilter) {
  return useInfiniteQuery({
    queryKey: keys.imageList(projectId, filter),
    queryFn: ({ pageParam, signal }) => {
      const { label, unlabeled, split, filename, meta } = imageFilterQuery(filter);
      return call(
        apiClient.GET("/api/v1/projects/{project_id}/images/", {
          params: {
            path: { project_id: projectId },
            query: {
              label,
              unlabeled: unlabeled ? true : undefined,
              split: split as "train" | "val" | "test" | "none" | undefined,
              filename,
              ...meta,
              page: pageParam,
              page_size: IMAGE_PAGE_SIZE,
            },
          },
          signal,
        }),
      );
    },
    initialPageParam: 1,
    getNextPageParam: (last, _all, lastPageParam) => (last.next ? lastPageParam + 1 : undefined),
    placeholderData: keepPreviousData,
  });
}

export function useImage(projectId: number, imageId: number | null) {
  return useQuery({
    queryKey: keys.image(projectId, imageId ?? -1),
    queryFn: () => imageGet(projectId, imageId as number),
    enabled: imageId !== null,
  });
}

/** Several images by id (each cached on its own, like the viewer's). */
export function useImagesById(projectId: number, ids: number[]) {
  return useQueries({
    queries: ids.map((id) => ({
      queryKey: keys.image(projectId, id),
      queryFn: () => imageGet(projectId, id),
      staleTime: 60_000,
      retry: false,
    })),
  });
}

export function useImageHistory(projectId: number, imageId: number | null) {
  return useQuery({
    queryKey: keys.imageHistory(projectId, imageId ?? -1),
    queryFn: async () =>
      rows(
        await call(
          apiClient.GET("/api/v1/projects/{project_id}/images/{image_id}/history/", imagePath(projectId, imageId as number)),
        ),
      ),
    enabled: imageId !== null,
  });
}

export function useStats(projectId: number) {
  return useQuery({
    queryKey: keys.stats(projectId),
    queryFn: async () =>
      normalizeStats(
        await call(apiClient.GET("/api/v1/projects/{project_id}/stats/", { params: { path: { project_id: projectId } } })),
      ),
  });
}

/** Refetches what changes when images are added, labeled or deleted. */
export function useDatasetRefresh(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(
    ({ images = true }: { images?: boolean } = {}) => {
      if (images) queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.project(projectId), exact: true });
      queryClient.invalidateQueries({ queryKey: keys.projects, exact: true });
    },
    [projectId, queryClient],
  );
}

/** The same, at most once per `ms` while a long upload runs (and always for the last call). */
export function useThrottledRefresh(projectId: number, ms = 3000, { images = true }: { images?: boolean } = {}) {
  const refreshNow = useDatasetRefresh(projectId);
  const refresh = useCallback(() => refreshNow({ images }), [images, refreshNow]);
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  return useCallback(
    (final = false) => {
      const now = Date.now();
      if (timer.current) clearTimeout(timer.current);
      if (final || now - last.current >= ms) {
        last.current = now;
        refresh();
        return;
      }
      timer.current = setTimeout(() => {
        last.current = Date.now();
        refresh();
      }, ms - (now - last.current));
    },
    [ms, refresh],
  );
}

type ImagePages = InfiniteData<Paginated<ImageItem>>;

/** Updates an image wherever it is cached (grid pages, viewer) without refetching the grid. */
export function patchImageCaches(old: unknown, id: number, changes: Partial<ImageItem>): unknown {
  if (!old || typeof old !== "object" || Array.isArray(old)) return old;
  if ("pages" in old) {
    const data = old as ImagePages;
    return {
      ...data,
      pages: data.pages.map((page) => ({
        ...page,
        results: page.results.map((item) => (item.id === id ? { ...item, ...changes } : item)),
      })),
    };
  }
  if ((old as ImageItem).id === id) return { ...(old as ImageItem), ...changes };
  return old;
}

function usePatchCached(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(
    (id: number, changes: Partial<ImageItem>) =>
      queryClient.setQueriesData({ queryKey: keys.images(projectId) }, (old) => patchImageCaches(old, id, changes)),
    [projectId, queryClient],
  );
}

/** Label one image; the grid shows the new label at once and goes back if the API refuses. */
export function useImageLabel(projectId: number, options: MutationOptions<ImageItem> = {}) {
  const queryClient = useQueryClient();
  const patchCached = usePatchCached(projectId);
  return useMutation({
    mutationFn: ({ image, label }: { image: ImageItem; label: string | null }) => imageUpdate(projectId, image.id, { label }),
    onMutate: ({ image, label }) => {
      patchCached(image.id, { label });
      return { previous: image.label };
    },
    onError: (_error, { image }, context) => patchCached(image.id, { label: context?.previous ?? null }),
    onSuccess: (updated) => {
      patchCached(updated.id, updated);
      queryClient.invalidateQueries({ queryKey: keys.imageHistory(projectId, updated.id) });
      options.onSuccess?.(updated);
    },
  });
}

export function useImageSplit(projectId: number, options: MutationOptions<ImageItem> = {}) {
  const patchCached = usePatchCached(projectId);
  return useMutation({
    mutationFn: ({ image, split }: { image: ImageItem; split: string }) =>
      imageUpdate(projectId, image.id, { split: split as ImageUpdate["split"] }),
    onSuccess: (updated) => {
      patchCached(updated.id, updated);
      options.onSuccess?.(updated);
    },
  });
}

/** Relabel an image outside the grid (the model page's mistakes): every count changes. */
export function useImageRelabel(projectId: number, imageId: number, options: MutationOptions<ImageItem> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (label: string) => imageUpdate(projectId, imageId, { label }),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.image(projectId, imageId), updated);
      queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
      options.onSuccess?.(updated);
    },
  });
}

/** Label the selected images (ids, or everything the filter matches); answers how many changed. */
export function useImagesBulkLabel(
  projectId: number,
  filter: ImageFilter,
  options: { onSuccess?: (updated: number, label: string | null) => void } = {},
) {
  return useMutation({
    mutationFn: ({ target, label }: { target: number[] | "filter"; label: string | null }) =>
      call(
        apiClient.POST("/api/v1/projects/{project_id}/images/bulk-label/", {
          params: { path: { project_id: projectId } },
          body: { ...imageTarget(target, filter), label },
        }),
      ),
    onSuccess: (answer, { label }) => options.onSuccess?.(answer.updated, label),
  });
}

/** Delete the selected images (one goes through the image's own DELETE); answers how many. */
export function useImagesDelete(
  projectId: number,
  filter: ImageFilter,
  options: MutationOptions<number> & { inlineError?: boolean } = {},
) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (target: number[] | "filter") => {
      if (Array.isArray(target) && target.length === 1) {
        await call(apiClient.DELETE("/api/v1/projects/{project_id}/images/{image_id}/", imagePath(projectId, target[0])));
        return 1;
      }
      const answer = await call(
        apiClient.POST("/api/v1/projects/{project_id}/images/bulk-delete/", {
          params: { path: { project_id: projectId } },
          body: imageTarget(target, filter),
        }),
      );
      return answer.deleted;
    },
    meta: mutationMeta(options),
    onSuccess: (deleted, target) => {
      // A deleted image is gone for good: drop it from every cache before anything refetches,
      // so no open viewer, history or thumbnail asks for it again (a 404 in the console).
      if (Array.isArray(target)) {
        const gone = new Set(target);
        for (const id of target) {
          queryClient.removeQueries({ queryKey: keys.image(projectId, id), exact: true });
          queryClient.removeQueries({ queryKey: keys.imageHistory(projectId, id), exact: true });
        }
        queryClient.setQueriesData({ queryKey: keys.images(projectId) }, (old) => dropImages(old, gone));
      }
      options.onSuccess?.(deleted);
    },
  });
}

function dropImages(old: unknown, gone: Set<number>): unknown {
  if (!old || typeof old !== "object" || !("pages" in old)) return old;
  const data = old as ImagePages;
  return {
    ...data,
    pages: data.pages.map((page) => {
      const results = page.results.filter((item) => !gone.has(item.id));
      return { ...page, results, count: page.count - (page.results.length - results.length) };
    }),
  };
}
