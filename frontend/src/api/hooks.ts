/** Server state through TanStack Query: one key per resource, polling while jobs run. */
import { keepPreviousData, useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { ApiError } from "./client";
import * as ep from "./endpoints";
import type { ImageFilter } from "./types";
import { isActive } from "../lib/format";

export const keys = {
  me: ["me"] as const,
  authConfig: ["auth-config"] as const,
  health: ["health"] as const,
  projects: ["projects"] as const,
  project: (id: number) => ["projects", id] as const,
  labels: (projectId: number) => ["projects", projectId, "labels"] as const,
  images: (projectId: number) => ["projects", projectId, "images"] as const,
  imageList: (projectId: number, filter: ImageFilter) => ["projects", projectId, "images", "list", filter] as const,
  image: (projectId: number, imageId: number) => ["projects", projectId, "images", "one", imageId] as const,
  imageHistory: (projectId: number, imageId: number) => ["projects", projectId, "images", "history", imageId] as const,
  stats: (projectId: number) => ["projects", projectId, "stats"] as const,
  importJob: (id: number) => ["imports", id] as const,
  imports: (projectId: number) => ["projects", projectId, "imports"] as const,
  trainingJobs: (projectId: number) => ["projects", projectId, "training-jobs"] as const,
  trainingJob: (id: number) => ["training-jobs", id] as const,
  models: (projectId: number) => ["projects", projectId, "models"] as const,
  model: (id: number) => ["models", id] as const,
  deployments: (projectId: number) => ["projects", projectId, "deployments"] as const,
  apiKeys: (slug: string) => ["deployments", slug, "keys"] as const,
  predictions: (slug: string, uncertain: boolean) => ["deployments", slug, "predictions", uncertain] as const,
};

export const POLL_MS = 1000;

/** The logged-in user, or null when nobody is (401). */
export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: async ({ signal }) => {
      try {
        return await ep.authMe(signal);
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
        throw error;
      }
    },
    staleTime: 5 * 60_000,
    retry: 1,
  });
}

export function useAuthConfig() {
  return useQuery({ queryKey: keys.authConfig, queryFn: ep.authConfig, staleTime: 5 * 60_000 });
}

export function useHealth() {
  return useQuery({ queryKey: keys.health, queryFn: ep.health, refetchInterval: 30_000, retry: false });
}

export function useProjects() {
  return useQuery({ queryKey: keys.projects, queryFn: ep.projectList });
}

export function useProject(id: number) {
  return useQuery({ queryKey: keys.project(id), queryFn: () => ep.projectGet(id), enabled: Number.isFinite(id) });
}

export function useLabels(projectId: number) {
  return useQuery({ queryKey: keys.labels(projectId), queryFn: () => ep.labelList(projectId) });
}

export const IMAGE_PAGE_SIZE = 200;

/** Every image matching the filter, a page of 200 at a time as the grid scrolls. */
export function useImagePages(projectId: number, filter: ImageFilter) {
  return useInfiniteQuery({
    queryKey: keys.imageList(projectId, filter),
    queryFn: ({ pageParam, signal }) => ep.imageList(projectId, filter, pageParam, IMAGE_PAGE_SIZE, signal),
    initialPageParam: 1,
    getNextPageParam: (last, _all, lastPageParam) => (last.next ? lastPageParam + 1 : undefined),
    placeholderData: keepPreviousData,
  });
}

export function useImage(projectId: number, imageId: number | null) {
  return useQuery({
    queryKey: keys.image(projectId, imageId ?? -1),
    queryFn: () => ep.imageGet(projectId, imageId as number),
    enabled: imageId !== null,
  });
}

export function useImageHistory(projectId: number, imageId: number | null) {
  return useQuery({
    queryKey: keys.imageHistory(projectId, imageId ?? -1),
    queryFn: () => ep.imageHistory(projectId, imageId as number),
    enabled: imageId !== null,
  });
}

export function useStats(projectId: number) {
  return useQuery({ queryKey: keys.stats(projectId), queryFn: () => ep.datasetStats(projectId) });
}

export function useImportJob(id: number | null) {
  return useQuery({
    queryKey: keys.importJob(id ?? -1),
    queryFn: () => ep.importGet(id as number),
    enabled: id !== null,
    refetchInterval: (query) => (isActive(query.state.data?.status ?? "queued") ? POLL_MS : false),
  });
}

/** The project's recent imports; polled every second while one is still working. */
export function useImports(projectId: number) {
  return useQuery({
    queryKey: keys.imports(projectId),
    queryFn: () => ep.importList(projectId),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? POLL_MS : false),
  });
}

export function useTrainingJobs(projectId: number) {
  return useQuery({
    queryKey: keys.trainingJobs(projectId),
    queryFn: () => ep.trainingList(projectId),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? 5_000 : false),
  });
}

/** One training job, polled every second while it is queued or running. */
export function useTrainingJob(id: number | null) {
  return useQuery({
    queryKey: keys.trainingJob(id ?? -1),
    queryFn: () => ep.trainingGet(id as number),
    enabled: id !== null,
    refetchInterval: (query) => (isActive(query.state.data?.status ?? "queued") ? POLL_MS : false),
  });
}

export function useModels(projectId: number) {
  return useQuery({ queryKey: keys.models(projectId), queryFn: () => ep.modelList(projectId) });
}

export function useModel(id: number | null) {
  return useQuery({ queryKey: keys.model(id ?? -1), queryFn: () => ep.modelGet(id as number), enabled: id !== null });
}

export function useDeployments(projectId: number) {
  return useQuery({ queryKey: keys.deployments(projectId), queryFn: () => ep.deploymentList(projectId) });
}

export function useApiKeys(slug: string | null) {
  return useQuery({
    queryKey: keys.apiKeys(slug ?? ""),
    queryFn: () => ep.apiKeyList(slug as string),
    enabled: !!slug,
  });
}

export function usePredictions(slug: string | null, uncertain: boolean) {
  return useQuery({
    queryKey: keys.predictions(slug ?? "", uncertain),
    queryFn: async () => ep.predictionLog(slug as string, { uncertain }),
    enabled: !!slug,
    refetchInterval: 15_000,
  });
}
