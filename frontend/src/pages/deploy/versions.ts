import type { ModelVersion } from "../../api/types";

/**
 * The version "Deploy another version" starts on: not one already deployed. The best
 * undeployed one (highest accuracy, the newest on a tie), else the newest version that is not
 * the one serving; `requested` (from ?version=) wins when it names a version.
 */
export function defaultDeployVersion(
  models: Pick<ModelVersion, "id" | "number" | "metrics">[],
  deployedIds: number[],
  requested: number | null = null,
): number | null {
  if (requested !== null && models.some((m) => m.id === requested)) return requested;
  const deployed = new Set(deployedIds);
  const newestFirst = [...models].sort((a, b) => b.number - a.number);
  const undeployed = newestFirst.filter((m) => !deployed.has(m.id));
  if (undeployed.length) {
    const score = (m: (typeof models)[number]) => m.metrics?.accuracy ?? -1;
    return undeployed.reduce((best, m) => (score(m) > score(best) ? m : best)).id;
  }
  return newestFirst[0]?.id ?? null;
}
