import { describe, expect, it } from "vitest";
import type { MapPoint } from "../../api/hooks/health";
import { colorKey, isTinyPath, nearestPoint, pointInPolygon, pointsInPolygon, pointsInRect, toPixel } from "./mapGeometry";

const points: MapPoint[] = [
  { image: 1, x: -1, y: 1, label: "ants", split: "train" },
  { image: 2, x: 0, y: 0, label: null, split: "", cluster: 2 },
  { image: 3, x: 1, y: -1, label: "bees", split: "test", predicted: "ants", confidence: 0.8, issue: "label" },
];

describe("map geometry", () => {
  it("puts [-1, 1] inside the padding, y upwards", () => {
    expect(toPixel(-1, 124)).toBe(12);
    expect(toPixel(1, 124)).toBe(112);
    expect(toPixel(1, 124, true)).toBe(12);
  });

  it("selects the points inside a rectangle drawn either way, and the point under a click", () => {
    expect(pointsInRect(points, { x0: 0, y0: 0, x1: 70, y1: 70 }, 124, 124)).toEqual([1, 2]);
    expect(pointsInRect(points, { x0: 124, y0: 124, x1: 60, y1: 60 }, 124, 124)).toEqual([2, 3]);
    expect(nearestPoint(points, 63, 61, 124, 124)).toBe(2);
    expect(nearestPoint(points, 40, 40, 124, 124)).toBeNull();
  });

  it("tells inside from outside of a concave free-hand polygon", () => {
    // A "U": two arms joined at the bottom; the notch between the arms is outside.
    const u = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 10, y: 20 },
      { x: 20, y: 20 },
      { x: 20, y: 0 },
      { x: 30, y: 0 },
      { x: 30, y: 30 },
      { x: 0, y: 30 },
    ];
    expect(pointInPolygon(5, 5, u)).toBe(true);
    expect(pointInPolygon(25, 5, u)).toBe(true);
    expect(pointInPolygon(15, 25, u)).toBe(true);
    expect(pointInPolygon(15, 5, u)).toBe(false); // in the notch
    expect(pointInPolygon(35, 5, u)).toBe(false);
    expect(pointInPolygon(-1, 15, u)).toBe(false);
  });

  it("selects the map points inside a lasso, not those inside its bounding box only", () => {
    // Pixels on a 124 x 124 canvas: point 1 at (12, 12), 2 at (62, 62), 3 at (112, 112).
    const triangle = [
      { x: 0, y: 0 },
      { x: 118, y: 0 },
      { x: 0, y: 118 },
    ];
    expect(pointsInPolygon(points, triangle, 124, 124)).toEqual([1]);
    const diagonal = [
      { x: 0, y: 0 },
      { x: 20, y: 0 },
      { x: 124, y: 104 },
      { x: 124, y: 124 },
      { x: 104, y: 124 },
      { x: 0, y: 20 },
    ];
    expect(pointsInPolygon(points, diagonal, 124, 124)).toEqual([1, 2, 3]);
    expect(pointsInPolygon(points, triangle.slice(0, 2), 124, 124)).toEqual([]);
  });

  it("takes a path that stays within a few pixels for a click", () => {
    expect(isTinyPath([{ x: 10, y: 10 }, { x: 12, y: 11 }])).toBe(true);
    expect(isTinyPath([{ x: 10, y: 10 }, { x: 30, y: 11 }])).toBe(false);
    expect(isTinyPath([])).toBe(true);
  });

  it("colours by label (or group before any model), prediction or issue", () => {
    expect(colorKey(points[1], "label")).toBe("group 3");
    expect(colorKey(points[2], "prediction")).toBe("ants");
    expect(colorKey(points[2], "issue")).toBe("label");
    expect(colorKey(points[0], "issue")).toBe("none");
  });
});
