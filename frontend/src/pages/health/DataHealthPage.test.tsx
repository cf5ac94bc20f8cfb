import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Outlet, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import type { HealthReport } from "../../api/hooks/health";
import type { ImageItem, Project } from "../../api/types";
import { mockApi, renderWithProviders } from "../../test/utils";
import DataHealthPage from "./DataHealthPage";

const project = { id: 3, name: "Ants or bees" } as Project;

const image = (id: number, label: string | null, split: ImageItem["split"] = "train"): ImageItem =>
  ({ id, filename: `img${id}.jpg`, label, split, thumbnail_url: `/t/${id}.jpg`, file_url: `/f/${id}.jpg` }) as ImageItem;

const ready: HealthReport = {
  status: "ready",
  error: "",
  model_version: 7,
  model_version_number: 2,
  computed_at: "2025-01-01T00:00:00Z",
  cv_accuracy: { value: 0.93, low: 0.9, high: 0.95, images: 240 },
  label_issues: [{ image: 11, label: "ants", suggested: "bees", score: 0.97 }],
  near_duplicates: [{ images: [12, 13], similarity: 0.99, cross_split: true }],
  outliers: [],
};

function renderPage(route = "/projects/3/health") {
  return renderWithProviders(
    <Routes>
      <Route path="/projects/:projectId" element={<Outlet context={{ project }} />}>
        <Route path="health" element={<DataHealthPage />} />
      </Route>
    </Routes>,
    { route },
  );
}

describe("data health", () => {
  it("offers to check the data before any report exists", async () => {
    const { calls } = mockApi({
      "GET /api/v1/projects/3/health/": {
        body: { ...ready, status: "none", computed_at: null, cv_accuracy: null, label_issues: [], near_duplicates: [] },
      },
      "POST /api/v1/projects/3/health/": {
        status: 202,
        body: { ...ready, status: "computing", computed_at: null, cv_accuracy: null, label_issues: [], near_duplicates: [] },
      },
    });
    renderPage();
    await userEvent.click(await screen.findByTestId("health-check-first"));
    expect(await screen.findByText("Checking your data…")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST" && c.url === "/api/v1/projects/3/health/")).toBe(true);
  });

  it("shows the interval, the queue by impact, accepts a suggestion by key and undoes it", async () => {
    let current = ready;
    const { calls } = mockApi({
      "GET /api/v1/projects/3/health/": () => ({ body: current }),
      "GET /api/v1/projects/3/images/11/": { body: image(11, "ants") },
      "GET /api/v1/projects/3/images/12/": { body: image(12, "ants", "test") },
      "GET /api/v1/projects/3/images/13/": { body: image(13, "ants", "train") },
      "PATCH /api/v1/projects/3/images/11/": (call) => {
        const body = call.body as { label: string };
        current = body.label === "bees" ? { ...ready, label_issues: [] } : ready;
        return { body: image(11, body.label) };
      },
    });
    renderPage();
    expect(await screen.findByTestId("health-cv-accuracy")).toHaveTextContent("93%");
    expect(screen.getByTestId("health-cv-interval")).toHaveTextContent("90% – 95%");
    expect(screen.getByTestId("health-cv-interval")).toHaveTextContent("240 labelled images");
    const rows = screen.getAllByTestId("health-queue-row");
    expect(rows[0]).toHaveTextContent("ants → bees");
    expect(rows[1]).toHaveTextContent("Near-duplicate");
    expect(await screen.findByTestId("health-item")).toHaveAttribute("data-kind", "label");

    fireEvent.keyDown(window, { key: "a" });
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    const accept = calls.find((c) => c.method === "PATCH");
    expect(accept?.body).toEqual({ label: "bees", source: "suggestion" });
    // The duplicate comes next; the leaking pair's copy is the one outside the test split.
    await waitFor(() => expect(screen.getByTestId("health-item")).toHaveAttribute("data-kind", "duplicate"));
    expect(await screen.findByText("the copy")).toBeInTheDocument();

    await userEvent.click(await screen.findByTestId("undo"));
    await waitFor(() => expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(2));
    expect(calls.filter((c) => c.method === "PATCH")[1].body).toEqual({ label: "ants", source: "user" });
    await waitFor(() => expect(screen.getByTestId("health-item")).toHaveAttribute("data-kind", "label"));
  });

  it("shows the nearest labelled images beside a flagged one, with their labels", async () => {
    const neighbours = [
      { image: 41, label: "bees", similarity: 0.91 },
      { image: 42, label: "bees", similarity: 0.88 },
      { image: 43, label: "ants", similarity: 0.8 },
    ];
    const routes: Parameters<typeof mockApi>[0] = {
      "GET /api/v1/projects/3/health/": {
        body: { ...ready, label_issues: [{ ...ready.label_issues[0], neighbours }], near_duplicates: [] },
      },
      "GET /api/v1/projects/3/images/11/": { body: image(11, "ants") },
    };
    for (const n of neighbours) routes[`GET /api/v1/projects/3/images/${n.image}/`] = { body: image(n.image, n.label) };
    mockApi(routes);
    renderPage();
    const strip = await screen.findByTestId("health-neighbours");
    expect(strip).toHaveTextContent("The 3 most similar labelled images: 2 of them labelled “bees”.");
    const shown = screen.getAllByTestId("health-neighbour");
    expect(shown.map((el) => el.getAttribute("data-label"))).toEqual(["bees", "bees", "ants"]);
    expect(shown[0]).toHaveTextContent("91% alike");
    await waitFor(() => expect(shown[2].querySelector("img")).toHaveAttribute("src", "/t/43.jpg"));
  });

  it("does not keep the label when the keep is undone", async () => {
    const { calls } = mockApi({
      "GET /api/v1/projects/3/health/": { body: ready },
      "GET /api/v1/projects/3/images/11/": { body: image(11, "ants") },
      "GET /api/v1/projects/3/images/12/": { body: image(12, "ants", "test") },
      "GET /api/v1/projects/3/images/13/": { body: image(13, "ants", "train") },
    });
    renderPage();
    await userEvent.click(await screen.findByTestId("health-keep"));
    await userEvent.click(await screen.findByTestId("undo"));
    await waitFor(() => expect(screen.getByTestId("health-item")).toHaveAttribute("data-kind", "label"));
    expect(calls.some((c) => c.url.includes("/dismiss/"))).toBe(false);
  });

  it("says how many of the accepted guesses are probably wrong and labels them in one call per label", async () => {
    const results = Array.from({ length: 4 }, (_, i) => ({
      image: 20 + i,
      predicted: i % 2 ? "ants" : "bees",
      confidence: 0.95,
      reason: "uncertain",
    }));
    const routes: Parameters<typeof mockApi>[0] = {
      "GET /api/v1/projects/3/health/": { body: { ...ready, label_issues: [], near_duplicates: [] } },
      "GET /api/v1/projects/3/suggestions/": { body: { results } },
      "POST /api/v1/projects/3/images/bulk-label/": (call) => ({
        body: { updated: (call.body as { image_ids: number[] }).image_ids.length },
      }),
    };
    for (const s of results) routes[`GET /api/v1/projects/3/images/${s.image}/`] = { body: image(s.image, null, "") };
    const { calls } = mockApi(routes);
    renderPage("/projects/3/health?view=label-next");
    expect(await screen.findByTestId("label-next-expected-errors")).toHaveTextContent("Probably none of these 4 is wrong.");
    await userEvent.click(screen.getByTestId("label-next-accept-all"));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(2));
    expect(calls.filter((c) => c.method === "POST").map((c) => c.body)).toEqual([
      { image_ids: [20, 22], label: "bees", source: "suggestion" },
      { image_ids: [21, 23], label: "ants", source: "suggestion" },
    ]);
  });
});

describe("confusion cell", () => {
  it("opens the images of a cell of every split and relabels one in place", async () => {
    const matrices = { all: [[5, 1], [0, 6]], train: [[4, 1], [0, 5]], val: [[0, 0], [0, 0]], test: [[1, 0], [0, 1]] };
    const base = { labels: ["ants", "bees"], matrices, model_version: 7, count: 0, next: null, previous: null, results: [] };
    const { calls } = mockApi({
      "GET /api/v1/projects/3/health/": { body: ready },
      "GET /api/v1/projects/3/labels/": { body: [{ id: 1, name: "ants", color: "" }, { id: 2, name: "bees", color: "" }] },
      "GET /api/v1/projects/3/confusion/": (call) =>
        call.url.includes("true=ants")
          ? { body: { ...base, count: 1, results: [{ image: 30, label: "ants", predicted: "bees", confidence: 0.8, split: "train" }] } }
          : { body: base },
      "GET /api/v1/projects/3/images/30/": { body: image(30, "ants") },
    });
    renderPage("/projects/3/health?view=confusion");
    const cells = await screen.findAllByTestId("confusion-cell");
    expect(cells.map((c) => c.textContent)).toEqual(["5", "1", "0", "6"]);
    await userEvent.click(cells[1]);
    expect(await screen.findByTestId("confusion-image")).toBeInTheDocument();
    const cellCall = calls.find((c) => c.url.includes("true=ants"));
    expect(cellCall?.url).toContain("predicted=bees");
    expect(cellCall?.url).toContain("split=all");
  });
});
