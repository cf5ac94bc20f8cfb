import type { LabelRecall, ModelVersion } from "../../api/types";
import { formatPercent } from "../../lib/format";

/**
 * The two versions the Compare page opens on: `b` (?b=, else the newest) against `a` (?a=,
 * else the version just before b, else the newest other one). Null where the project has
 * fewer than two versions.
 */
export function defaultPair(
  models: Pick<ModelVersion, "id" | "number">[],
  requestedA: number | null,
  requestedB: number | null,
): { a: number | null; b: number | null } {
  const newestFirst = [...models].sort((x, y) => y.number - x.number);
  const known = (id: number | null) => id !== null && newestFirst.some((m) => m.id === id);
  const b = known(requestedB) ? (requestedB as number) : (newestFirst[0]?.id ?? null);
  if (known(requestedA) && requestedA !== b) return { a: requestedA, b };
  const bNumber = newestFirst.find((m) => m.id === b)?.number ?? Infinity;
  const before = newestFirst.find((m) => m.number < bNumber) ?? newestFirst.find((m) => m.id !== b);
  return { a: before?.id ?? null, b };
}

/** Whether b's recall of a label is better, worse, or not told apart from a's (its interval). */
export function recallChange(row: Pick<LabelRecall, "low" | "high">): "better" | "worse" | "unclear" {
  if (row.low > 0) return "better";
  if (row.high < 0) return "worse";
  return "unclear";
}

/** McNemar's p in words: can the difference on the shared images be chance? */
export function mcnemarWords(p: number, fixed: number, broken: number): string {
  if (fixed === 0 && broken === 0) return "Both versions got exactly the same images right: no difference.";
  const shown = p < 0.001 ? "p < 0.001" : `p = ${p.toFixed(3)}`;
  const who = fixed > broken ? "B" : fixed < broken ? "A" : null;
  if (p < 0.05 && who) {
    return `${who} is better on these images, and the difference is unlikely to be chance (${shown}).`;
  }
  return `The difference could well be chance (${shown}): ${fixed} fixed against ${broken} broken.`;
}

/** "81.0% (72.1%–87.6%)": a value with its 95 % interval. */
export function withInterval(value: number, low: number, high: number): string {
  return `${formatPercent(value)} (${formatPercent(low)}–${formatPercent(high)})`;
}

/** A signed difference in points: "+12.5 pts", "−3.0 pts". */
export function formatDelta(delta: number): string {
  const points = (delta * 100).toFixed(1);
  return delta > 0 ? `+${points} pts` : delta < 0 ? `−${points.slice(1)} pts` : "0 pts";
}

