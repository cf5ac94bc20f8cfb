/** Training jobs (start, follow, cancel) and the model versions they make. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { isActive } from "../../lib/format";
import { rows } from "../adapters";
import { apiClient, call } from "../client";
import type { TrainingJob, TrainingMode } from "../types";
import { keys, mutationMeta, POLL_MS, type MutationOptions } from "./keys";

export function useTrainingJobs(projectId: number) {
  return useQuery({
    queryKey: keys.trainingJobs(projectId),
    queryFn: async (): Promise<TrainingJob[]> =>
      rows(
        await call(
          apiClient.GET("/api/v1/projects/{project_id}/training-jobs/", { params: { path: { project_id: projectId } } }),
        ),
      ),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? 5_000 : false),
  });
}

/** One training job, polled every second while it is queued or running. */
export function useTrainingJob(id: number | null) {
  return useQuery({
    queryKey: keys.trainingJob(id ?? -1),
    queryFn: (): Promise<TrainingJob> =>
      call(apiClient.GET("/api/v1/training-jobs/{job_id}/", { params: { path: { job_id: id as number } } })),
    enabled: id !== null,
    refetchInterval: (query) => (isActive(query.state.data?.status ?? "queued") ? POLL_MS : false),
  });
}

/** Start a job; it is followed at once (its detail is cached) and the list shows it. */
export function useTrainingStart(projectId: number, options: MutationOptions<TrainingJob> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (mode: TrainingMode) =>
      call(
        apiClient.POST("/api/v1/projects/{project_id}/training-jobs/", {
          params: { path: { project_id: projectId } },
          body: { mode },
        }),
      ),
    meta: mutationMeta(options),
    onSuccess: (job) => {
      queryClient.setQueryData(keys.trainingJob(job.id), job);
      queryClient.invalidateQueries({ queryKey: keys.trainingJobs(projectId) });
      options.onSuccess?.(job);
    },
  });
}

export function useTrainingCancel(jobId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/training-jobs/{job_id}/cancel/", { params: { path: { job_id: jobId } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: keys.trainingJob(jobId) }),
  });
}

/** Once a run ends, the lists that show its result (versions, project accuracy) are stale. */
export function useTrainingFinished(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(() => {
    queryClient.invalidateQueries({ queryKey: keys.trainingJobs(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.models(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.project(projectId), exact: true });
    queryClient.invalidateQueries({ queryKey: keys.projects, exact: true });
  }, [projectId, queryClient]);
}

/** How often a version whose int8 copy is being made is read again. */
const INT8_POLL_MS = 4000;

export function useModels(projectId: number) {
  return useQuery({
    queryKey: keys.models(projectId),
    queryFn: async () =>
      rows(await call(apiClient.GET("/api/v1/projects/{project_id}/models/", { params: { path: { project_id: projectId } } }))),
    // A version's int8 copy is made by its own job after training: look again until it is.
    refetchInterval: (query) =>
      query.state.data?.some((m) => m.metrics.int8?.status === "compressing") ? INT8_POLL_MS : false,
  });
}

export function useModel(id: number | null) {
  return useQuery({
    queryKey: keys.model(id ?? -1),
    queryFn: () => call(apiClient.GET("/api/v1/models/{version_id}/", { params: { path: { version_id: id as number } } })),
    enabled: id !== null,
    refetchInterval: (query) => (query.state.data?.metrics.int8?.status === "compressing" ? INT8_POLL_MS : false),
  });
}
