/** Deployments, their API keys, "try it", and the prediction log. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { rows } from "../adapters";
import { apiClient, call } from "../client";
import type { AddedToDataset, ApiKey, Candidate, Deployment, DeploymentCreate, DeploymentUpdate, NewApiKey, PredictionResult } from "../types";
import { keys, mutationMeta, type MutationOptions } from "./keys";

function slugPath(slug: string) {
  return { params: { path: { slug } } };
}

export function useDeployments(projectId: number) {
  return useQuery({
    queryKey: keys.deployments(projectId),
    queryFn: async () =>
      rows(
        await call(apiClient.GET("/api/v1/projects/{project_id}/deployments/", { params: { path: { project_id: projectId } } })),
      ),
  });
}

export function useDeploymentCreate(projectId: number, options: MutationOptions<Deployment> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: DeploymentCreate) =>
      call(apiClient.POST("/api/v1/projects/{project_id}/deployments/", { params: { path: { project_id: projectId } }, body })),
    onSuccess: (deployment) => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      options.onSuccess?.(deployment);
    },
  });
}

export function useDeploymentUpdate(
  projectId: number,
  slug: string,
  options: { onSuccess?: (deployment: Deployment, body: DeploymentUpdate) => void } = {},
) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: DeploymentUpdate) => call(apiClient.PATCH("/api/v1/deployments/{slug}/", { ...slugPath(slug), body })),
    onSuccess: (deployment, body) => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.deploymentHistory(slug) });
      options.onSuccess?.(deployment, body);
    },
  });
}

export function useDeploymentDelete(projectId: number, slug: string, options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.DELETE("/api/v1/deployments/{slug}/", slugPath(slug))),
    onSuccess: () => {
      options.onSuccess?.(null);
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
    },
  });
}

/** Every change of the version the deployment serves, newest first. */
export function useDeploymentHistory(slug: string) {
  return useQuery({
    queryKey: keys.deploymentHistory(slug),
    queryFn: async () =>
      rows(
        await call(apiClient.GET("/api/v1/deployments/{slug}/history/", slugPath(slug))),
      ),
  });
}

/** Serve again the version served before the last change. */
export function useDeploymentRollback(projectId: number, slug: string, options: MutationOptions<Deployment> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/deployments/{slug}/rollback/", slugPath(slug))),
    meta: mutationMeta(options),
    onSuccess: (deployment) => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.deploymentHistory(slug) });
      options.onSuccess?.(deployment);
    },
  });
}

export function useApiKeys(slug: string | null) {
  return useQuery({
    queryKey: keys.apiKeys(slug ?? ""),
    queryFn: () => call(apiClient.GET("/api/v1/deployments/{slug}/keys/", slugPath(slug as string))),
    enabled: !!slug,
  });
}

/** Make a key; its secret is in this answer only. */
export function useApiKeyCreate(slug: string, options: MutationOptions<NewApiKey> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => call(apiClient.POST("/api/v1/deployments/{slug}/keys/", { ...slugPath(slug), body: { name } })),
    onSuccess: (key) => {
      options.onSuccess?.(key);
      queryClient.invalidateQueries({ queryKey: keys.apiKeys(slug) });
    },
  });
}

export function useApiKeyRevoke(slug: string, options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (key: ApiKey) =>
      call(apiClient.DELETE("/api/v1/deployments/{slug}/keys/{key_id}/", { params: { path: { slug, key_id: key.id } } })),
    onSuccess: () => {
      options.onSuccess?.(null);
      queryClient.invalidateQueries({ queryKey: keys.apiKeys(slug) });
    },
  });
}

export function usePredictions(slug: string | null, uncertain: boolean) {
  return useQuery({
    queryKey: keys.predictions(slug ?? "", uncertain),
    queryFn: () =>
      call(
        apiClient.GET("/api/v1/deployments/{slug}/predictions/", {
          params: { path: { slug: slug as string }, query: { uncertain: uncertain ? true : undefined, page_size: 50 } },
        }),
      ),
    enabled: !!slug,
    refetchInterval: 15_000,
  });
}

/** Classify one image with the live model, as the prediction API would (logged too). */
export function useDeploymentTry(slug: string, options: MutationOptions<PredictionResult> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (image: File): Promise<PredictionResult> => {
      const answer = await call(
        apiClient.POST("/api/v1/deployments/{slug}/try/", {
          ...slugPath(slug),
          body: {},
          bodySerializer: () => {
            const form = new FormData();
            form.append("image", image, image.name);
            return form;
          },
        }),
      );
      // One image in, one answer out (several images answer {results}).
      return answer as PredictionResult;
    },
    meta: mutationMeta(options),
    onSuccess: (result) => {
      queryClient.invalidateQueries({ queryKey: keys.predictionLog(slug) });
      options.onSuccess?.(result);
    },
  });
}

/** Copy a logged prediction's image into the data set with `label`. */
export function usePredictionAddToDataset(
  slug: string,
  projectId: number,
  predictionId: string,
  options: MutationOptions<AddedToDataset> = {},
) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (label: string) =>
      call(
        apiClient.POST("/api/v1/deployments/{slug}/predictions/{prediction_id}/add-to-dataset/", {
          params: { path: { slug, prediction_id: predictionId } },
          body: { label },
        }),
      ),
    onSuccess: (answer) => {
      options.onSuccess?.(answer);
      queryClient.invalidateQueries({ queryKey: keys.predictionLog(slug) });
      queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
    },
  });
}

/** Start (or change) a canary: the candidate answers `percent` % of the requests. */
export function useCandidateSet(projectId: number, slug: string, options: MutationOptions<Candidate> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: { model_version: number; percent: number }) =>
      call(apiClient.PUT("/api/v1/deployments/{slug}/candidate/", { ...slugPath(slug), body: { ...body, mode: "canary" } })),
    meta: mutationMeta(options),
    onSuccess: (candidate) => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      options.onSuccess?.(candidate);
    },
  });
}

/** Stop the canary: the live version answers every request again. */
export function useCandidateStop(projectId: number, slug: string, options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.DELETE("/api/v1/deployments/{slug}/candidate/", slugPath(slug))),
    meta: mutationMeta(options),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      options.onSuccess?.(null);
    },
  });
}

/** The candidate becomes the live version (a promotion in the history). */
export function useCandidatePromote(projectId: number, slug: string, options: MutationOptions<Deployment> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/deployments/{slug}/candidate/promote/", slugPath(slug))),
    meta: mutationMeta(options),
    onSuccess: (deployment) => {
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.deploymentHistory(slug) });
      options.onSuccess?.(deployment);
    },
  });
}
