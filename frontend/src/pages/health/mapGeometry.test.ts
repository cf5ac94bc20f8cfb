import { describe, expect, it } from "vitest";
import type { MapPoint } from "../../api/hooks/health";
import { colorKey, nearestPoint, pointsInRect, toPixel } from "./mapGeometry";

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

  it("colours by label (or group before any model), prediction or issue", () => {
    expect(colorKey(points[1], "label")).toBe("group 3");
    expect(colorKey(points[2], "prediction")).toBe("ants");
    expect(colorKey(points[2], "issue")).toBe("label");
    expect(colorKey(points[0], "issue")).toBe("none");
  });
});
