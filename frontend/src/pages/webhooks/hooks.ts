/** A project's webhooks and their delivery log (queries and mutations side by side). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiClient, call } from "../../api/client";
import type { components } from "../../api/schema";
import { mutationMeta, type MutationOptions } from "../../api/hooks/keys";

type Schemas = components["schemas"];
export type Webhook = Schemas["WebhookOutput"];
export type WebhookCreated = Schemas["WebhookCreated"];
export type WebhookInput = Schemas["WebhookInputRequest"];
export type WebhookUpdate = Schemas["PatchedWebhookUpdateRequest"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type WebhookKind = Schemas["WebhookKindEnum"];
export type WebhookEvent = WebhookInput["events"][number];

/** Every event a webhook can subscribe to, with what it means. */
export const WEBHOOK_EVENTS: { value: WebhookEvent; label: string }[] = [
  { value: "training.succeeded", label: "Training succeeded" },
  { value: "training.failed", label: "Training failed" },
  { value: "deployment.changed", label: "A deployment's model changed" },
  { value: "batch.succeeded", label: "Batch prediction finished" },
  { value: "batch.failed", label: "Batch prediction failed" },
  { value: "drift.alert", label: "Drift alert" },
  { value: "candidate.report", label: "Candidate model report" },
];

export const webhookKeys = {
  list: (projectId: number) => ["projects", projectId, "webhooks"] as const,
  deliveries: (projectId: number, webhookId: number) => ["projects", projectId, "webhooks", webhookId, "deliveries"] as const,
};

const path = (projectId: number, webhookId: number) => ({ params: { path: { project_id: projectId, webhook_id: webhookId } } });

export function useWebhooks(projectId: number) {
  return useQuery({
    queryKey: webhookKeys.list(projectId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/webhooks/", { params: { path: { project_id: projectId } } })),
  });
}

export function useWebhookDeliveries(projectId: number, webhookId: number, enabled: boolean) {
  return useQuery({
    queryKey: webhookKeys.deliveries(projectId, webhookId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/webhooks/{webhook_id}/deliveries/", path(projectId, webhookId))),
    enabled,
    // Retries are seconds to minutes apart: follow them while the log is open.
    refetchInterval: (query) => (query.state.data?.some((d) => d.status === "queued" || d.status === "running") ? 2000 : false),
  });
}

export function useWebhookCreate(projectId: number, options: MutationOptions<WebhookCreated> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: WebhookInput) =>
      call(apiClient.POST("/api/v1/projects/{project_id}/webhooks/", { params: { path: { project_id: projectId } }, body })),
    meta: mutationMeta(options),
    onSuccess: (created) => {
      queryClient.invalidateQueries({ queryKey: webhookKeys.list(projectId) });
      options.onSuccess?.(created);
    },
  });
}

export function useWebhookUpdate(projectId: number, webhookId: number, options: MutationOptions<Webhook> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: WebhookUpdate) =>
      call(apiClient.PATCH("/api/v1/projects/{project_id}/webhooks/{webhook_id}/", { ...path(projectId, webhookId), body })),
    meta: mutationMeta(options),
    onSuccess: (updated) => {
      queryClient.invalidateQueries({ queryKey: webhookKeys.list(projectId) });
      options.onSuccess?.(updated);
    },
  });
}

export function useWebhookDelete(projectId: number, webhookId: number, options: MutationOptions<null> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.DELETE("/api/v1/projects/{project_id}/webhooks/{webhook_id}/", path(projectId, webhookId))),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: webhookKeys.list(projectId) });
      options.onSuccess?.(null);
    },
  });
}

export function useWebhookTest(projectId: number, webhookId: number, options: MutationOptions<WebhookDelivery> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/projects/{project_id}/webhooks/{webhook_id}/test/", path(projectId, webhookId))),
    onSuccess: (delivery) => {
      queryClient.invalidateQueries({ queryKey: webhookKeys.deliveries(projectId, webhookId) });
      options.onSuccess?.(delivery);
    },
  });
}
