/** Projects (the problem definition) and their labels. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { rows } from "../adapters";
import { apiClient, call } from "../client";
import type { Label, Project, ProjectInput, ProjectUpdate } from "../types";
import { keys, mutationMeta, type MutationOptions } from "./keys";

export function useProjects() {
  return useQuery({
    queryKey: keys.projects,
    queryFn: async () => rows(await call(apiClient.GET("/api/v1/projects/", { params: { query: { page_size: 200 } } }))),
  });
}

export function useProject(id: number) {
  return useQuery({
    queryKey: keys.project(id),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/", { params: { path: { project_id: id } } })),
    enabled: Number.isFinite(id),
  });
}

export function useLabels(projectId: number) {
  return useQuery({
    queryKey: keys.labels(projectId),
    queryFn: () =>
      call(apiClient.GET("/api/v1/projects/{project_id}/labels/", { params: { path: { project_id: projectId } } })),
  });
}

export function useProjectCreate(options: MutationOptions<Project> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectInput) => call(apiClient.POST("/api/v1/projects/", { body })),
    meta: mutationMeta(options),
    onSuccess: (project) => {
      queryClient.invalidateQueries({ queryKey: keys.projects });
      options.onSuccess?.(project);
    },
  });
}

export function useProjectUpdate(projectId: number, options: MutationOptions<Project> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectUpdate) =>
      call(apiClient.PATCH("/api/v1/projects/{project_id}/", { params: { path: { project_id: projectId } }, body })),
    meta: mutationMeta(options),
    onSuccess: (updated) => {
      queryClient.setQueryData(keys.project(projectId), updated);
      queryClient.invalidateQueries({ queryKey: keys.projects, exact: true });
      options.onSuccess?.(updated);
    },
  });
}

export function useProjectDelete(projectId: number, options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.DELETE("/api/v1/projects/{project_id}/", { params: { path: { project_id: projectId } } })),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: keys.project(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.projects, exact: true });
      options.onSuccess?.(null);
    },
  });
}

/** What shows a label's name or its image count: the labels, the images, the counts. */
function useLabelsChanged(projectId: number) {
  const queryClient = useQueryClient();
  return () => {
    queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.project(projectId), exact: true });
  };
}

/** Add a label; the page refreshes what shows it (useDatasetRefresh). */
export function useLabelCreate(projectId: number, options: MutationOptions<Label> = {}) {
  return useMutation({
    mutationFn: (name: string) =>
      call(apiClient.POST("/api/v1/projects/{project_id}/labels/", { params: { path: { project_id: projectId } }, body: { name } })),
    meta: mutationMeta(options),
    onSuccess: (label) => options.onSuccess?.(label),
  });
}

export function useLabelUpdate(projectId: number, labelId: number, options: MutationOptions<Label> = {}) {
  const changed = useLabelsChanged(projectId);
  return useMutation({
    mutationFn: (body: { name?: string; color?: string }) =>
      call(
        apiClient.PATCH("/api/v1/projects/{project_id}/labels/{label_id}/", {
          params: { path: { project_id: projectId, label_id: labelId } },
          body,
        }),
      ),
    onSuccess: (label) => {
      options.onSuccess?.(label);
      changed();
    },
  });
}

export function useLabelDelete(projectId: number, labelId: number, options: MutationOptions<null> = {}) {
  const changed = useLabelsChanged(projectId);
  return useMutation({
    mutationFn: () =>
      call(
        apiClient.DELETE("/api/v1/projects/{project_id}/labels/{label_id}/", {
          params: { path: { project_id: projectId, label_id: labelId } },
        }),
      ),
    onSuccess: () => {
      options.onSuccess?.(null);
      changed();
    },
  });
}
