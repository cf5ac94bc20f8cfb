/** Confusion-matrix helpers: colours for the heat map and the images behind a cell. */
import type { Misclassified } from "../api/types";

/** Each cell as a fraction of its row (how the images of one true label were predicted). */
export function rowNormalize(matrix: number[][]): number[][] {
  return matrix.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (sum ? v / sum : 0));
  });
}

/**
 * A cell's background: diagonal cells (right answers) in teal, the rest (mistakes) in
 * red, darker for a larger share of the row.
 */
export function heatColor(fraction: number, diagonal: boolean): string {
  const f = Math.max(0, Math.min(1, fraction));
  const alpha = f === 0 ? 0.04 : 0.12 + 0.78 * f;
  return diagonal ? `rgba(12, 166, 120, ${alpha.toFixed(3)})` : `rgba(224, 49, 49, ${alpha.toFixed(3)})`;
}

/** Text colour readable on heatColor's background. */
export function heatTextColor(fraction: number): string {
  return fraction > 0.55 ? "#fff" : "var(--mantine-color-text)";
}

export interface CellRef {
  trueLabel: string;
  predicted: string;
}

/** The misclassified images in one cell (or all of them when no cell is chosen). */
export function misclassifiedIn(items: readonly Misclassified[] | undefined, cell: CellRef | null): Misclassified[] {
  const list = items ?? [];
  if (!cell) return [...list];
  return list.filter((m) => m.true === cell.trueLabel && m.predicted === cell.predicted);
}

/** "2,1" in the URL <-> a cell of the matrix. */
export function parseCell(value: string | null, labels: readonly string[]): { row: number; col: number } | null {
  if (!value) return null;
  const match = /^(\d+),(\d+)$/.exec(value);
  if (!match) return null;
  const row = Number(match[1]);
  const col = Number(match[2]);
  if (row >= labels.length || col >= labels.length) return null;
  return { row, col };
}
