/**
 * The data health fix queue as pure functions: the report in, one list ordered by expected
 * impact out, plus the keyboard map and the sums the bulk actions show. The components only
 * apply the results, so the rules are testable without a browser.
 */
import type { HealthReport, Neighbour, Suggestion } from "../../api/hooks/health";

/** The nearest labelled images, why an item was flagged (absent on items past the first 600). */
type Evidence = { neighbours?: Neighbour[] };

export type FixItem =
  | ({ key: string; kind: "label"; image: number; label: string; suggested: string; score: number } & Evidence)
  | ({ key: string; kind: "duplicate"; images: [number, number]; similarity: number; crossSplit: boolean } & Evidence)
  | ({ key: string; kind: "outlier"; image: number; score: number } & Evidence);

export type FixKind = FixItem["kind"];

/**
 * Wrong labels hurt most (the model learns them and the test score counts them), the likeliest
 * first; then duplicates split across train and test (they inflate the test score) before
 * duplicates within one split (they only weigh an image twice); strangers last.
 */
export function buildFixQueue(report: HealthReport | undefined, hidden: ReadonlySet<string> = new Set()): FixItem[] {
  if (!report) return [];
  const labels: FixItem[] = [...report.label_issues]
    .sort((a, b) => b.score - a.score)
    .map((issue) => ({ key: `label:${issue.image}`, kind: "label", ...issue }));
  const duplicates: FixItem[] = [...report.near_duplicates]
    .filter((pair) => pair.images.length >= 2)
    .sort((a, b) => Number(b.cross_split) - Number(a.cross_split) || b.similarity - a.similarity)
    .map((pair) => ({
      key: `duplicate:${pair.images[0]}-${pair.images[1]}`,
      kind: "duplicate",
      images: [pair.images[0], pair.images[1]],
      similarity: pair.similarity,
      crossSplit: pair.cross_split,
      neighbours: pair.neighbours,
    }));
  const outliers: FixItem[] = [...report.outliers]
    .sort((a, b) => b.score - a.score)
    .map((item) => ({ key: `outlier:${item.image}`, kind: "outlier", ...item }));
  return [...labels, ...duplicates, ...outliers].filter((item) => !hidden.has(item.key));
}

/** Every image an item is about. */
export function itemImages(item: FixItem): number[] {
  return item.kind === "duplicate" ? item.images : [item.image];
}

/**
 * Of a duplicate pair, the image to act on: the one outside the test split when the pair
 * leaks (the test split keeps its image), else the second of the pair.
 */
export function duplicateCopy(item: Extract<FixItem, { kind: "duplicate" }>, splitOf: (id: number) => string | undefined): number {
  const [a, b] = item.images;
  if (item.crossSplit) {
    if (splitOf(a) === "test") return b;
    if (splitOf(b) === "test") return a;
  }
  return b;
}

export type QueueAction = "next" | "previous" | "accept" | "keep" | "delete" | "test" | "help";

export const QUEUE_SHORTCUTS: ReadonlyArray<{ keys: string; action: string }> = [
  { keys: "j / ↓ / →", action: "Next item" },
  { keys: "↑ / ←", action: "Previous item" },
  { keys: "a", action: "Accept the suggested label" },
  { keys: "k", action: "Keep as it is (not flagged again)" },
  { keys: "d", action: "Delete the image (or the duplicate's copy)" },
  { keys: "t", action: "Move to the test split" },
  { keys: "?", action: "Show or hide these shortcuts" },
];

/** The action a key press stands for (null: not a shortcut; modifiers are the browser's). */
export function queueKeyAction(input: { key: string; ctrlKey?: boolean; metaKey?: boolean; altKey?: boolean }): QueueAction | null {
  if (input.ctrlKey || input.metaKey || input.altKey) return null;
  switch (input.key) {
    case "j":
    case "ArrowDown":
    case "ArrowRight":
      return "next";
    case "ArrowUp":
    case "ArrowLeft":
      return "previous";
    case "a":
      return "accept";
    case "k":
      return "keep";
    case "d":
      return "delete";
    case "t":
      return "test";
    case "?":
      return "help";
    default:
      return null;
  }
}

/** Which actions make sense for an item (accepting needs a suggested label). */
export function itemActions(item: FixItem): Set<QueueAction> {
  if (item.kind === "label") return new Set(["accept", "keep", "delete", "test"]);
  return new Set(["keep", "delete", "test"]);
}

/** Ids grouped by a key, in first-seen order (one bulk call per label). */
export function groupIds<T>(items: readonly T[], key: (item: T) => string, id: (item: T) => number): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const item of items) {
    const name = key(item);
    const list = groups.get(name);
    if (list) list.push(id(item));
    else groups.set(name, [id(item)]);
  }
  return groups;
}

/** The expected number of wrong labels among accepted guesses: the sum of 1 − confidence. */
export function expectedErrors(accepted: readonly Pick<Suggestion, "confidence">[]): number {
  return accepted.reduce((sum, s) => sum + Math.min(1, Math.max(0, 1 - (s.confidence ?? 0))), 0);
}

/** "about 3 of these 120 are probably wrong", in plain words. */
export function expectedErrorsText(errors: number, total: number): string {
  if (total === 0) return "Nothing to accept at this threshold.";
  const n = Math.round(errors);
  const these = total === 1 ? "this one" : `these ${total.toLocaleString("en-US")}`;
  if (n === 0) return total === 1 ? "This one is very probably right." : `Probably none of ${these} is wrong.`;
  if (n === 1) return `About 1 of ${these} is probably wrong.`;
  return `About ${n.toLocaleString("en-US")} of ${these} are probably wrong.`;
}
