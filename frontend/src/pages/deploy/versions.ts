import type { DeploymentChange, ModelVersion } from "../../api/types";

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

/**
 * What "Roll back" returns to: the version served before the deployment's last change (from
 * its history, newest first), not the previous version number. Null when the deployment has
 * served one version only, or that version was deleted since.
 */
export function rollbackTarget(
  history: Pick<DeploymentChange, "from_version" | "from_number">[],
): { id: number; number: number } | null {
  const last = history[0];
  if (!last || last.from_version === null || last.from_number === null) return null;
  return { id: last.from_version, number: last.from_number };
}
