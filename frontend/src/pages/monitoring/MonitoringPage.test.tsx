import { screen } from "@testing-library/react";
import { Outlet, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import MonitoringPage from "./MonitoringPage";

const bucket = (start: string, requests: number) => ({
  start,
  requests,
  requests_per_minute: requests,
  latency_ms: { p50: 12, p95: 20, p99: 31 },
  failed_requests: 1,
  error_rate: 0.01,
  uncertain_rate: 0.2,
  ood_rate: 0.05,
  labels: { ants: requests - 1, bees: 1 },
});

const figures = {
  window: "24h",
  since: "2026-01-01T00:00:00Z",
  until: "2026-01-02T00:00:00Z",
  bucket_seconds: 900,
  sampled: false,
  totals: {
    requests: 120,
    requests_per_minute: 0.083,
    latency_ms: { p50: 12, p95: 20, p99: 31 },
    failed_requests: 2,
    error_rate: 0.0164,
    uncertain_rate: 0.2,
    ood_rate: 0.05,
  },
  label_mix: { ants: 0.6, bees: 0.4 },
  training_mix: { ants: 0.5, bees: 0.5 },
  buckets: [bucket("2026-01-01T10:00:00Z", 60), bucket("2026-01-01T10:15:00Z", 60)],
  drift: { status: "ok", score: 0.9, p_value: 0.4, window: 120, since: "2026-01-01T10:00:00Z", checked_at: "2026-01-01T11:00:00Z", tests: [], alert: null, samples: [] },
};

describe("Monitoring page", () => {
  it("shows the window's figures and the drift state", async () => {
    mockApi({
      "GET /api/v1/deployments/ants/monitoring/": { body: figures },
      "GET /api/v1/deployments/ants/monitoring/alerts/": { body: [] },
      "GET /api/v1/deployments/ants/monitoring/settings/": { body: { enabled: true, window: 400, alert_p: 0.005, warning_p: 0.05 } },
    });
    const project = { id: 3, name: "Ants" };
    renderWithProviders(
      <Routes>
        <Route path="/projects/:projectId" element={<Outlet context={{ project }} />}>
          <Route path="deploy/:slug/monitoring" element={<MonitoringPage />} />
        </Route>
      </Routes>,
      { route: "/projects/3/deploy/ants/monitoring" },
    );
    expect(await screen.findByTestId("monitoring-totals")).toHaveTextContent("120");
    expect(screen.getByTestId("monitoring-totals")).toHaveTextContent("12 ms / 20 ms / 31 ms");
    expect(screen.getByTestId("drift-status")).toHaveTextContent("ok");
    expect(screen.getByText(/look like the training images/)).toBeInTheDocument();
    expect(await screen.findByText("No drift alerts yet.")).toBeInTheDocument();
  });
});
