import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import { AlertList, DriftCard, ThresholdForm } from "./DriftPanel";
import type { DriftAlert, DriftState } from "./hooks";

const alerting: DriftState = {
  status: "alert",
  score: 3.2,
  p_value: 0.00002,
  window: 400,
  since: "2026-01-01T00:00:00Z",
  checked_at: "2026-01-01T01:00:00Z",
  tests: [{ name: "mean_shift", score: 3.2, p_value: 0.00002, n: 400 }],
  alert: 5,
  samples: [
    { id: "a1", label: "ants", confidence: 0.6, created_at: "2026-01-01T00:30:00Z", image_url: "http://testserver/media/a1.jpg" },
  ],
};

const alert: DriftAlert = {
  id: 5,
  status: "alert",
  score: 3.2,
  p_value: 0.00002,
  window: 400,
  since: "2026-01-01T00:00:00Z",
  model_version_number: 2,
  tests: alerting.tests,
  sample_prediction_ids: ["a1"],
  acknowledged: false,
  acknowledged_at: null,
  created_at: "2026-01-01T01:00:00Z",
  updated_at: "2026-01-01T01:00:00Z",
};

describe("Drift panel", () => {
  it("says not checked, not ok, before the first check", () => {
    mockApi({});
    renderWithProviders(<DriftCard slug="ants" drift={{ ...alerting, status: "ok", checked_at: null, alert: null, samples: [] }} />);
    expect(screen.getByTestId("drift-status")).toHaveTextContent("not checked");
    expect(screen.getByText(/Not checked yet/)).toBeInTheDocument();
  });

  it("shows an alert's status, p-value and the shifted window's images", () => {
    mockApi({});
    renderWithProviders(<DriftCard slug="ants" drift={alerting} />);
    expect(screen.getByTestId("drift-status")).toHaveTextContent("alert");
    expect(screen.getByText(/differ from the training images/)).toBeInTheDocument();
    expect(screen.getByAltText("ants")).toHaveAttribute("src", "http://testserver/media/a1.jpg");
  });

  it("acknowledges an alert from the list", async () => {
    const { calls } = mockApi({
      "GET /api/v1/deployments/ants/monitoring/alerts/": { body: [alert] },
      "POST /api/v1/deployments/ants/monitoring/alerts/5/acknowledge/": { body: { ...alert, acknowledged: true } },
    });
    renderWithProviders(<AlertList slug="ants" />);
    fireEvent.click(await screen.findByRole("button", { name: "Acknowledge" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.url.endsWith("/alerts/5/acknowledge/"))).toBe(true));
  });

  it("refuses an alert threshold above the warning one before sending", async () => {
    const { calls } = mockApi({
      "GET /api/v1/deployments/ants/monitoring/settings/": { body: { enabled: true, window: 400, alert_p: 0.005, warning_p: 0.05 } },
    });
    renderWithProviders(<ThresholdForm slug="ants" />);
    const input = await screen.findByLabelText("Alert under p =");
    await waitFor(() => expect(input).toHaveValue("0.005"));
    fireEvent.change(input, { target: { value: "0.2" } });
    expect(await screen.findByText(/at most the warning threshold/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Save thresholds" })).toBeDisabled();
    expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(0);
  });
});
