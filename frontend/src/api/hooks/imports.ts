/** Background imports (zip, CSV, URL lists): follow one, list a project's, retry. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { isActive } from "../../lib/format";
import { rows } from "../adapters";
import { apiClient, call } from "../client";
import { keys, POLL_MS } from "./keys";

/** One import, polled every second while it works. */
export function useImportJob(id: number | null) {
  return useQuery({
    queryKey: keys.importJob(id ?? -1),
    queryFn: () => call(apiClient.GET("/api/v1/imports/{job_id}/", { params: { path: { job_id: id as number } } })),
    enabled: id !== null,
    refetchInterval: (query) => (isActive(query.state.data?.status ?? "queued") ? POLL_MS : false),
  });
}

/** The project's recent imports; polled every second while one is still working. */
export function useImports(projectId: number) {
  return useQuery({
    queryKey: keys.imports(projectId),
    queryFn: async () =>
      rows(
        await call(
          apiClient.GET("/api/v1/projects/{project_id}/imports/", {
            params: { path: { project_id: projectId }, query: { page_size: 10 } },
          }),
        ),
      ),
    refetchInterval: (query) => (query.state.data?.some((job) => isActive(job.status)) ? POLL_MS : false),
  });
}

/** The list of imports is stale once a new one started. */
export function useImportsChanged(projectId: number) {
  const queryClient = useQueryClient();
  return useCallback(() => queryClient.invalidateQueries({ queryKey: keys.imports(projectId) }), [projectId, queryClient]);
}

export function useImportRetry(id: number) {
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/imports/{job_id}/retry/", { params: { path: { job_id: id } } })),
  });
}
