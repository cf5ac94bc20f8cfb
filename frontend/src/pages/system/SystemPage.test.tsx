import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import SystemPage from "./SystemPage";

const SYSTEM = {
  health: { status: "ok", database: "ok", broker: "ok", workers: 2 },
  workers: [
    { name: "default@host", queues: ["default"] },
    { name: "webhooks@host", queues: ["webhooks"] },
  ],
  queues: [
    { name: "default", length: 3 },
    { name: "training", length: 1 },
    { name: "webhooks", length: 0 },
  ],
  jobs: [
    { kind: "training job", id: 12, status: "running", worker: "host:77", attempts: 1, created_at: "2026-12-06T19:00:00Z", started_at: "2026-12-06T19:00:01Z", heartbeat_at: "2026-12-06T19:00:05Z" },
  ],
};

describe("the System page (issue 17, item 7)", { timeout: 20_000 }, () => {
  it("shows workers, queue lengths with a queue no worker reads, and running jobs", async () => {
    mockApi({ "GET /api/v1/system/": { body: SYSTEM } });
    renderWithProviders(<SystemPage />);
    expect(await screen.findByTestId("system-page")).toBeInTheDocument();
    const queues = screen.getAllByTestId("system-queue");
    expect(queues.map((row) => row.textContent)).toEqual(["default3yes", "training1no worker", "webhooks0yes"]);
    expect(screen.getByTestId("system-workers")).toHaveTextContent("webhooks@host");
    expect(screen.getByTestId("system-job")).toHaveTextContent("training job12runninghost:771");
  });

  it("says so when the user is not staff", async () => {
    mockApi({
      "GET /api/v1/system/": { status: 403, body: { error: { code: "permission_denied", message: "You do not have permission to perform this action." } } },
    });
    renderWithProviders(<SystemPage />);
    expect(await screen.findByText(/staff only/)).toBeInTheDocument();
  });
});
