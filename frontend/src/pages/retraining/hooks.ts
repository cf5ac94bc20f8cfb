/** A project's retraining policy: read, change, retrain now. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiClient, call } from "../../api/client";
import type { components } from "../../api/schema";
import { mutationMeta, type MutationOptions } from "../../api/hooks/keys";

type Schemas = components["schemas"];
export type RetrainPolicy = Schemas["RetrainPolicyOutput"];
export type RetrainPolicyInput = Schemas["RetrainPolicyInputRequest"];

export const retrainKeys = { policy: (projectId: number) => ["projects", projectId, "retraining"] as const };

const params = (projectId: number) => ({ params: { path: { project_id: projectId } } });

export function useRetrainPolicy(projectId: number) {
  return useQuery({
    queryKey: retrainKeys.policy(projectId),
    queryFn: () => call(apiClient.GET("/api/v1/projects/{project_id}/retraining/", params(projectId))),
    // Follow a retraining it started until its job ends.
    refetchInterval: (query) => {
      const job = query.state.data?.status.last_job;
      return job && (job.status === "queued" || job.status === "running") ? 5000 : false;
    },
  });
}

export function useRetrainPolicyUpdate(projectId: number, options: MutationOptions<RetrainPolicy> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: RetrainPolicyInput) =>
      call(apiClient.PUT("/api/v1/projects/{project_id}/retraining/", { ...params(projectId), body })),
    meta: mutationMeta(options),
    onSuccess: (policy) => {
      queryClient.setQueryData(retrainKeys.policy(projectId), policy);
      options.onSuccess?.(policy);
    },
  });
}

export function useRetrainNow(projectId: number, options: MutationOptions<RetrainPolicy> = {}) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => call(apiClient.POST("/api/v1/projects/{project_id}/retraining/run/", params(projectId))),
    meta: mutationMeta(options),
    onSuccess: (policy) => {
      queryClient.setQueryData(retrainKeys.policy(projectId), policy);
      queryClient.invalidateQueries({ queryKey: ["projects", projectId] });
      options.onSuccess?.(policy);
    },
  });
}

/** The policy in one plain sentence, as the section's header shows it. */
export function policySummary(policy: Pick<RetrainPolicy, "enabled" | "new_labels" | "on_drift" | "every_hours" | "gate_min_requests">): string {
  if (!policy.enabled) return "Off: models are trained only when you click Train.";
  const reasons: string[] = [];
  if (policy.new_labels) reasons.push(`after ${policy.new_labels} new label${policy.new_labels === 1 ? "" : "s"}`);
  if (policy.on_drift) reasons.push("on a drift alert");
  if (policy.every_hours) reasons.push(`every ${policy.every_hours} hour${policy.every_hours === 1 ? "" : "s"}`);
  const when = reasons.length > 1 ? `${reasons.slice(0, -1).join(", ")} or ${reasons[reasons.length - 1]}` : reasons[0];
  const gate = policy.gate_min_requests
    ? `promoted automatically after ${policy.gate_min_requests} requests if the comparison favours it`
    : "promoted only by hand";
  return `Retrains ${when}; the new model runs in shadow beside the live one and is ${gate}.`;
}
