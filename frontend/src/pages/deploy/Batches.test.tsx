import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import { Batches } from "./Batches";

const finished = {
  id: 7,
  status: "succeeded",
  deployment: "ants",
  kind: "zip",
  archive_filename: "photos.zip",
  total: 10,
  done: 10,
  failed: 2,
  progress: 1,
  error: "",
  model_version: 3,
  model_version_number: 2,
  precision: "fp32",
  threshold: 0.6,
  attempts: 1,
  created: "2026-01-01T00:00:00Z",
  started: "2026-01-01T00:00:01Z",
  finished: "2026-01-01T00:00:05Z",
  url: "http://testserver/api/v1/batches/7/",
  results_csv: "http://testserver/api/v1/batches/7/results.csv",
  results_json: "http://testserver/api/v1/batches/7/results.json",
};

describe("Batches", () => {
  it("lists recent batches with their progress and result links", async () => {
    mockApi({ "GET /api/v1/deployments/ants/batches/": { body: { count: 1, next: null, previous: null, results: [finished] } } });
    renderWithProviders(<Batches slug="ants" />);
    expect(await screen.findByText("10 of 10 images · 2 without a prediction")).toBeInTheDocument();
    expect(screen.getByTestId("batch-csv")).toHaveAttribute("href", finished.results_csv);
  });

  it("submits pasted addresses and shows the server's message when refused", async () => {
    const { calls } = mockApi({
      "GET /api/v1/deployments/ants/batches/": { body: { count: 0, next: null, previous: null, results: [] } },
      "POST /api/v1/deployments/ants/batches/": {
        status: 400,
        body: { error: { code: "invalid_url", message: "Address 1 (ftp://x) does not start with http:// or https://." } },
      },
    });
    renderWithProviders(<Batches slug="ants" />);
    expect(await screen.findByText("No batches yet.")).toBeInTheDocument();
    fireEvent.click(screen.getByText("Paste addresses"));
    fireEvent.change(screen.getByTestId("batch-urls"), { target: { value: "ftp://x\n" } });
    fireEvent.click(screen.getByTestId("batch-submit-urls"));
    expect(await screen.findByTestId("batch-error")).toHaveTextContent("does not start with http://");
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ urls: ["ftp://x"] });
  });
});
