/** A deployment's monitoring: figures over a window, drift thresholds, alerts. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiClient, call } from "../../api/client";
import type { components } from "../../api/schema";
import { mutationMeta, type MutationOptions } from "../../api/hooks/keys";

type Schemas = components["schemas"];
export type Monitoring = Schemas["Monitoring"];
export type MonitoringBucket = Schemas["Bucket"];
export type DriftState = Schemas["DriftState"];
export type DriftAlert = Schemas["DriftAlert"];
export type MonitoringSettings = Schemas["MonitoringSettings"];
export type MonitoringSettingsInput = Schemas["PatchedMonitoringSettingsInputRequest"];
export type MonitoringWindow = Monitoring["window"];

export const WINDOWS: MonitoringWindow[] = ["1h", "6h", "24h", "7d", "30d"];

export const monitoringKeys = {
  all: (slug: string) => ["deployments", slug, "monitoring"] as const,
  figures: (slug: string, window: MonitoringWindow) => ["deployments", slug, "monitoring", "figures", window] as const,
  settings: (slug: string) => ["deployments", slug, "monitoring", "settings"] as const,
  alerts: (slug: string) => ["deployments", slug, "monitoring", "alerts"] as const,
};

const path = (slug: string) => ({ params: { path: { slug } } });

export function useMonitoring(slug: string, window: MonitoringWindow) {
  return useQuery({
    queryKey: monitoringKeys.figures(slug, window),
    queryFn: () =>
      call(apiClient.GET("/api/v1/deployments/{slug}/monitoring/", { params: { path: { slug }, query: { window } } })),
    refetchInterval: 30_000,
  });
}

export function useMonitoringSettings(slug: string) {
  return useQuery({
    queryKey: monitoringKeys.settings(slug),
    queryFn: () => call(apiClient.GET("/api/v1/deployments/{slug}/monitoring/settings/", path(slug))),
  });
}

export function useMonitoringSettingsUpdate(slug: string, options: MutationOptions<MonitoringSettings> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: MonitoringSettingsInput) =>
      call(apiClient.PATCH("/api/v1/deployments/{slug}/monitoring/settings/", { ...path(slug), body })),
    meta: mutationMeta(options),
    onSuccess: (found) => {
      queryClient.setQueryData(monitoringKeys.settings(slug), found);
      options.onSuccess?.(found);
    },
  });
}

export function useDriftAlerts(slug: string) {
  return useQuery({
    queryKey: monitoringKeys.alerts(slug),
    queryFn: () => call(apiClient.GET("/api/v1/deployments/{slug}/monitoring/alerts/", path(slug))),
    refetchInterval: 60_000,
  });
}

export function useDriftAlertAcknowledge(slug: string, options: MutationOptions<DriftAlert> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (alertId: number) =>
      call(
        apiClient.POST("/api/v1/deployments/{slug}/monitoring/alerts/{alert_id}/acknowledge/", {
          params: { path: { slug, alert_id: alertId } },
        }),
      ),
    meta: mutationMeta(options),
    onSuccess: (alert) => {
      queryClient.invalidateQueries({ queryKey: monitoringKeys.all(slug) });
      options.onSuccess?.(alert);
    },
  });
}

export function useDriftCheck(slug: string, options: MutationOptions<DriftState> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/deployments/{slug}/monitoring/check/", path(slug))),
    meta: mutationMeta(options),
    onSuccess: (state) => {
      queryClient.invalidateQueries({ queryKey: monitoringKeys.all(slug) });
      options.onSuccess?.(state);
    },
  });
}
