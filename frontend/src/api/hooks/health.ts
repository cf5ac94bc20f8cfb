/** Data health (issue 14): the report (label issues, near-duplicates, strangers), computing it
 * again, keeping an image as it is, the "label next" suggestions, and the image writes the
 * fix queue makes (accept a suggestion, move to test, delete), each answering what undoes it. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { apiClient, call } from "../client";
import type { components } from "../schema";
import type { ImageItem } from "../types";
import { keys, POLL_MS } from "./keys";

type Schemas = components["schemas"];
export type HealthReport = Schemas["HealthReport"];
export type HealthStatus = HealthReport["status"];
export type CvAccuracy = Schemas["CvAccuracy"];
export type LabelIssue = Schemas["LabelIssue"];
export type NearDuplicate = Schemas["NearDuplicate"];
export type Outlier = Schemas["Outlier"];
export type Neighbour = Schemas["Neighbour"];
export type DismissKind = Schemas["DismissInputRequest"]["kind"];
export type Suggestion = Schemas["Suggestion"];

export const healthKeys = {
  report: (projectId: number) => ["projects", projectId, "health"] as const,
  suggestions: (projectId: number, limit: number) => ["projects", projectId, "suggestions", limit] as const,
  allSuggestions: (projectId: number) => ["projects", projectId, "suggestions"] as const,
};

const projectPath = (projectId: number) => ({ params: { path: { project_id: projectId } } });

/** The newest report; polled while it is being computed. */
export function useDataHealth(projectId: number) {
  return useQuery({
    queryKey: healthKeys.report(projectId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/health/", projectPath(projectId))),
    refetchInterval: (query) => (query.state.data?.status === "computing" ? POLL_MS * 2 : false),
  });
}

/** "Check my data": compute the report again (answers it with status "computing"). */
export function useDataHealthRecompute(projectId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/projects/{project_id}/health/", projectPath(projectId))),
    onSuccess: (report) => queryClient.setQueryData(healthKeys.report(projectId), report),
  });
}

/** Unlabelled images to label next with the model's guess, least sure first. */
export function useSuggestions(projectId: number, limit: number) {
  return useQuery({
    queryKey: healthKeys.suggestions(projectId, limit),
    queryFn: () =>
      call(
        apiClient.GET("/api/v1/projects/{project_id}/suggestions/", {
          params: { path: { project_id: projectId }, query: { limit } },
        }),
      ),
  });
}

/** Refetches what an action in the fix queue changes: the report, suggestions, counts, grid. */
export function useDataHealthRefresh(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(() => {
    queryClient.invalidateQueries({ queryKey: healthKeys.report(projectId) });
    queryClient.invalidateQueries({ queryKey: ["projects", projectId, "insights"] });
    queryClient.invalidateQueries({ queryKey: healthKeys.allSuggestions(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
  }, [projectId, queryClient]);
}

/** The writes the data health pages make; each resolves when the server has it. */
export function useDataHealthActions(projectId: number) {
  const queryClient = useQueryClient();
  const refresh = useDataHealthRefresh(projectId);

  const patch = useCallback(
    async (imageId: number, body: { label?: string | null; split?: ImageItem["split"]; source?: "user" | "suggestion" }) => {
      const updated = await call(
        apiClient.PATCH("/api/v1/projects/{project_id}/images/{image_id}/", {
          params: { path: { project_id: projectId, image_id: imageId } },
          body,
        }),
      );
      queryClient.setQueryData(keys.image(projectId, imageId), updated);
      queryClient.invalidateQueries({ queryKey: keys.imageHistory(projectId, imageId) });
      refresh();
      return updated;
    },
    [projectId, queryClient, refresh],
  );

  const bulkLabel = useCallback(
    async (imageIds: number[], label: string | null, source: "user" | "suggestion") => {
      const answer = await call(
        apiClient.POST("/api/v1/projects/{project_id}/images/bulk-label/", {
          ...projectPath(projectId),
          body: { image_ids: imageIds, label, source },
        }),
      );
      for (const id of imageIds) queryClient.invalidateQueries({ queryKey: keys.image(projectId, id) });
      refresh();
      return answer.updated;
    },
    [projectId, queryClient, refresh],
  );

  const dismiss = useCallback(
    async (imageId: number, kind: DismissKind) => {
      await call(
        apiClient.POST("/api/v1/projects/{project_id}/health/dismiss/", {
          ...projectPath(projectId),
          body: { image: imageId, kind },
        }),
      );
      refresh();
    },
    [projectId, refresh],
  );

  const remove = useCallback(
    async (imageIds: number[]) => {
      if (imageIds.length === 1) {
        await call(
          apiClient.DELETE("/api/v1/projects/{project_id}/images/{image_id}/", {
            params: { path: { project_id: projectId, image_id: imageIds[0] } },
          }),
        );
      } else {
        await call(
          apiClient.POST("/api/v1/projects/{project_id}/images/bulk-delete/", {
            ...projectPath(projectId),
            body: { image_ids: imageIds },
          }),
        );
      }
      for (const id of imageIds) queryClient.removeQueries({ queryKey: keys.image(projectId, id) });
      refresh();
    },
    [projectId, queryClient, refresh],
  );

  return { patch, bulkLabel, dismiss, remove, refresh };
}

// The data seen through its embeddings: map, clusters, confusion cells, learning curve, slices.
export type EmbeddingMap = Schemas["EmbeddingMap"];
export type MapPoint = Schemas["MapPoint"];
export type Confusion = Schemas["Confusion"];
export type ConfusionSplit = "all" | "train" | "val" | "test";
export type LearningCurve = Schemas["LearningCurve"];
export type SliceList = Schemas["SliceList"];
export type MetadataReport = Schemas["MetadataReport"];

export const insightKeys = {
  all: (projectId: number) => ["projects", projectId, "insights"] as const,
  map: (projectId: number) => ["projects", projectId, "insights", "map"] as const,
  confusion: (projectId: number, cell: { true?: string; predicted?: string; split: ConfusionSplit; page: number }) =>
    ["projects", projectId, "insights", "confusion", cell] as const,
  curve: (projectId: number) => ["projects", projectId, "insights", "curve"] as const,
  slices: (projectId: number, key: string | null) => ["projects", projectId, "insights", "slices", key] as const,
};

/** Every embedded image on a 2-D map; polled while images are still being embedded. */
export function useEmbeddingMap(projectId: number) {
  return useQuery({
    queryKey: insightKeys.map(projectId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/map/", projectPath(projectId))),
    refetchInterval: (query) => (query.state.data?.status === "partial" ? 5_000 : false),
  });
}

/** The matrices per split, and with a cell the images in it (a page at a time). */
export function useConfusion(projectId: number, cell: { true?: string; predicted?: string; split: ConfusionSplit; page: number }) {
  return useQuery({
    queryKey: insightKeys.confusion(projectId, cell),
    queryFn: () =>
      call(
        apiClient.GET("/api/v1/projects/{project_id}/confusion/", {
          params: {
            path: { project_id: projectId },
            query: { true: cell.true, predicted: cell.predicted, split: cell.split, page: cell.page, page_size: 24 },
          },
        }),
      ),
  });
}

export function useLearningCurve(projectId: number) {
  return useQuery({
    queryKey: insightKeys.curve(projectId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/learning-curve/", projectPath(projectId))),
  });
}

export function useSlices(projectId: number, key: string | null) {
  return useQuery({
    queryKey: insightKeys.slices(projectId, key),
    queryFn: () =>
      call(
        apiClient.GET("/api/v1/projects/{project_id}/slices/", {
          params: { path: { project_id: projectId }, query: { key: key ?? undefined } },
        }),
      ),
  });
}

/** Attach the columns of a CSV to the images it names (by file name or external_id). */
export function useMetadataUpload(projectId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (file: File) =>
      call(
        apiClient.POST("/api/v1/projects/{project_id}/metadata/", {
          ...projectPath(projectId),
          body: { file: file.name },
          bodySerializer: () => {
            const form = new FormData();
            form.append("file", file, file.name);
            return form;
          },
        }),
      ),
    meta: { inlineError: true },
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: insightKeys.all(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
    },
  });
}
