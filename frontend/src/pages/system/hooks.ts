/** The platform at a glance (staff only): GET /api/v1/system/. */
import { useQuery } from "@tanstack/react-query";
import { apiClient, call } from "../../api/client";
import type { components } from "../../api/schema";

export type SystemStatus = components["schemas"]["System"];

export const SYSTEM_POLL_MS = 5000;

export function useSystem() {
  return useQuery({
    queryKey: ["system"] as const,
    queryFn: () => call(apiClient.GET("/api/v1/system/")),
    refetchInterval: SYSTEM_POLL_MS,
    retry: false,
  });
}
