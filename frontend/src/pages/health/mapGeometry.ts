/** The embedding map's arithmetic: points in [-1, 1]² to pixels and back, rectangles, colours. */
import type { MapPoint } from "../../api/hooks/health";
import { labelColor } from "../../lib/format";

export type ColorBy = "label" | "prediction" | "issue";

export const PAD = 12;

export function toPixel(value: number, size: number, flip = false): number {
  const t = (Math.max(-1, Math.min(1, value)) + 1) / 2;
  return PAD + (flip ? 1 - t : t) * (size - 2 * PAD);
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Ids of the points whose pixel lies inside the rectangle (drawn in either direction). */
export function pointsInRect(points: readonly MapPoint[], rect: Rect, width: number, height: number): number[] {
  const [left, right] = [Math.min(rect.x0, rect.x1), Math.max(rect.x0, rect.x1)];
  const [top, bottom] = [Math.min(rect.y0, rect.y1), Math.max(rect.y0, rect.y1)];
  const out: number[] = [];
  for (const p of points) {
    const x = toPixel(p.x, width);
    const y = toPixel(p.y, height, true);
    if (x >= left && x <= right && y >= top && y <= bottom) out.push(p.image);
  }
  return out;
}

/** A pixel on the canvas (a vertex of a lasso). */
export interface Pixel {
  x: number;
  y: number;
}

/**
 * Whether a pixel lies inside a polygon (its last vertex joins its first), by the even-odd
 * rule: a ray to the right crosses the outline an odd number of times. Holds for the
 * concave, self-crossing shapes a free hand draws.
 */
export function pointInPolygon(x: number, y: number, polygon: readonly Pixel[]): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i];
    const b = polygon[j];
    if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/** Ids of the points whose pixel lies inside a free-hand polygon (fewer than 3 vertices: none). */
export function pointsInPolygon(points: readonly MapPoint[], polygon: readonly Pixel[], width: number, height: number): number[] {
  if (polygon.length < 3) return [];
  // The bounding box first: most points are rejected by four comparisons.
  const xs = polygon.map((p) => p.x);
  const ys = polygon.map((p) => p.y);
  const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const out: number[] = [];
  for (const p of points) {
    const x = toPixel(p.x, width);
    const y = toPixel(p.y, height, true);
    if (x < left || x > right || y < top || y > bottom) continue;
    if (pointInPolygon(x, y, polygon)) out.push(p.image);
  }
  return out;
}

/** Whether a drawn path is a click rather than a shape: it stays within a few pixels. */
export function isTinyPath(path: readonly Pixel[], tolerance = 4): boolean {
  if (path.length === 0) return true;
  const xs = path.map((p) => p.x);
  const ys = path.map((p) => p.y);
  return Math.max(...xs) - Math.min(...xs) < tolerance && Math.max(...ys) - Math.min(...ys) < tolerance;
}

/** The point nearest a pixel, within `radius` pixels (a click on one point). */
export function nearestPoint(points: readonly MapPoint[], px: number, py: number, width: number, height: number, radius = 6): number | null {
  let best: number | null = null;
  let bestDistance = radius * radius;
  for (const p of points) {
    const dx = toPixel(p.x, width) - px;
    const dy = toPixel(p.y, height, true) - py;
    const d = dx * dx + dy * dy;
    if (d <= bestDistance) {
      bestDistance = d;
      best = p.image;
    }
  }
  return best;
}

const ISSUE_COLORS: Record<string, string> = { label: "#e03131", duplicate: "#f08c00", outlier: "#ae3ec9" };
export const NO_VALUE = "#ced4da";

/** What a point is coloured by, in words (the legend's entries). */
export function colorKey(point: MapPoint, by: ColorBy): string {
  if (by === "issue") return point.issue ?? "none";
  if (by === "prediction") return point.predicted ?? "no prediction";
  if (point.label) return point.label;
  return point.cluster !== undefined ? `group ${point.cluster + 1}` : "no label";
}

export function colorOf(key: string, by: ColorBy): string {
  if (by === "issue") return ISSUE_COLORS[key] ?? NO_VALUE;
  if (key === "no label" || key === "no prediction") return NO_VALUE;
  return labelColor(key);
}
