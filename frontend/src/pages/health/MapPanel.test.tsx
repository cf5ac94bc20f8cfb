import { act, fireEvent, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { MapPoint } from "../../api/hooks";
import { mockApi, renderWithProviders } from "../../test/utils";
import { MapPanel } from "./MapPanel";

// jsdom lays nothing out: the canvas is 1 x 520 pixels and its box on screen is empty, so a
// pointer's client position is the canvas pixel. Points at x = -1 sit at pixel x = 12.
const point = (image: number, y: number): MapPoint => ({ image, x: -1, y, label: null, split: "train" });
const points = [point(1, 1), point(2, 0.9), point(3, -1)]; // pixels y = 12, 36.8, 508

describe("map lasso", () => {
  beforeEach(() => {
    // jsdom draws nothing (no canvas package); the panel skips drawing without a context.
    vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue(null);
  });

  it("keeps every vertex when several pointer moves arrive before React renders", async () => {
    mockApi({
      "GET /api/v1/projects/3/map/": { body: { status: "ready", missing: 0, points, clusters: [] } },
      "GET /api/v1/projects/3/labels/": { body: [] },
    });
    renderWithProviders(<MapPanel projectId={3} />);
    const canvas = await screen.findByTestId("map-canvas");
    fireEvent.click(screen.getByText("Lasso"));
    act(() => {
      fireEvent.pointerDown(canvas, { clientX: 0, clientY: 0, pointerId: 1 });
    });
    // One batch: no render between these, as on a busy machine or with a fast hand.
    act(() => {
      for (const [x, y] of [[30, 0], [30, 50], [0, 50]]) fireEvent.pointerMove(canvas, { clientX: x, clientY: y, pointerId: 1 });
      fireEvent.pointerUp(canvas, { clientX: 0, clientY: 0, pointerId: 1 });
    });
    expect(await screen.findByTestId("map-selection")).toHaveTextContent("2 images selected");
  });
});
