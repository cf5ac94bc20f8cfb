/**
 * A deployment's rollout (canary or shadow): its queries and mutations, and the small pure
 * helpers the rollout card shows its state with.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, apiClient, call } from "../../api/client";
import { keys, mutationMeta, POLL_MS, type MutationOptions } from "../../api/hooks/keys";
import type { components } from "../../api/schema";

type Schemas = components["schemas"];
export type RolloutState = Schemas["CandidateDetail"];
export type Gate = Schemas["Gate"];
export type Disagreement = Schemas["Disagreement"];
export type Settled = Schemas["SettledOutput"];
export type RolloutMode = "canary" | "shadow";

export interface RolloutStart {
  model_version: number;
  mode: RolloutMode;
  percent?: number | null;
  gate_min_requests?: number | null;
  gate_min_agreement?: number | null;
}

export const rolloutKey = (slug: string) => ["deployments", slug, "candidate"] as const;

/** The rollout under way, refreshed every few seconds while there is one. When it has
 * ended meanwhile (the gate promoted it), the deployment is read again. */
export function useRollout(projectId: number, slug: string, enabled: boolean) {
  const queryClient = useQueryClient();
  return useQuery({
    queryKey: rolloutKey(slug),
    queryFn: async () => {
      try {
        return await call(apiClient.GET("/api/v1/deployments/{slug}/candidate/", { params: { path: { slug } } }));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
          queryClient.invalidateQueries({ queryKey: keys.deploymentHistory(slug) });
          return null;
        }
        throw error;
      }
    },
    enabled,
    refetchInterval: enabled ? 2 * POLL_MS : false,
  });
}

/** Start (or change) a canary or a shadow. */
export function useRolloutStart(projectId: number, slug: string, options: MutationOptions<RolloutState> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: RolloutStart) =>
      call(apiClient.PUT("/api/v1/deployments/{slug}/candidate/", { params: { path: { slug } }, body })),
    meta: mutationMeta(options),
    onSuccess: (state) => {
      queryClient.setQueryData(rolloutKey(slug), state);
      queryClient.invalidateQueries({ queryKey: keys.deployments(projectId) });
      options.onSuccess?.(state);
    },
  });
}

/** Say which label was right for a disagreement: it goes into the data set with that label. */
export function useSettle(projectId: number, slug: string, options: MutationOptions<Settled> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, label }: { id: number; label: string }) =>
      call(
        apiClient.POST("/api/v1/deployments/{slug}/candidate/disagreements/{result_id}/settle/", {
          params: { path: { slug, result_id: String(id) } },
          body: { label },
        }),
      ),
    meta: mutationMeta(options),
    onSuccess: (answer) => {
      queryClient.invalidateQueries({ queryKey: rolloutKey(slug) });
      queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
      queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
      options.onSuccess?.(answer);
    },
  });
}

/** The colour and the one-word title of the gate's state. */
export function gateBadge(gate: Pick<Gate, "state" | "enabled">): { color: string; text: string } {
  switch (gate.state) {
    case "ready":
      return { color: "teal", text: "Ready to promote" };
    case "promoted":
      return { color: "teal", text: "Promoted" };
    case "blocked":
      return { color: "red", text: "Blocked" };
    case "waiting":
      return { color: "yellow", text: "Waiting" };
    default:
      return { color: "gray", text: "No gate" };
  }
}

/** "97.5 % of 200 requests agree", or a sentence for no request yet. */
export function agreementText(requests: number, agreement: number | null | undefined): string {
  if (!requests || agreement === null || agreement === undefined) return "No request yet since the shadow started.";
  const share = (agreement * 100).toFixed(agreement === 1 || agreement === 0 ? 0 : 1);
  return `The versions agree on ${share} % of ${requests.toLocaleString("en")} request${requests === 1 ? "" : "s"}.`;
}

/** The labels a disagreement can be settled with: both versions', in order, once each. */
export function settleLabels(live: readonly string[], candidate: readonly string[]): string[] {
  return Array.from(new Set([...live, ...candidate]));
}
