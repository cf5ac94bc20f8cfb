import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import { MetadataFilter } from "./MetadataFilter";

const columns = [
  {
    key: "camera",
    images: 3,
    truncated: false,
    values: [
      { value: "north", count: 2 },
      { value: "south", count: 1 },
    ],
  },
];

describe("metadata filter", () => {
  it("uploads a CSV, shows which rows matched, then filters by a column's value", async () => {
    let attached = false;
    const { calls } = mockApi({
      "GET /api/v1/projects/3/metadata/": () => ({ body: { columns: attached ? columns : [] } }),
      "POST /api/v1/projects/3/metadata/": () => {
        attached = true;
        return {
          body: {
            matched_by: "filename",
            keys: ["camera"],
            rows: 4,
            matched_rows: 3,
            unmatched_rows: 1,
            unmatched: ["zz.jpg"],
            images_updated: 3,
          },
        };
      },
    });
    const onMeta = vi.fn();
    const { container } = renderWithProviders(<MetadataFilter projectId={3} meta={{}} onMeta={onMeta} />);
    expect(await screen.findByText(/No columns yet/)).toBeInTheDocument();

    const input = container.querySelector('input[type="file"]') as HTMLInputElement;
    await userEvent.upload(input, new File(["filename,camera\n"], "meta.csv", { type: "text/csv" }));
    const report = await screen.findByTestId("metadata-report");
    expect(report).toHaveTextContent("3 of 4 rows matched (by file name), 3 images updated: camera.");
    expect(screen.getByTestId("metadata-unmatched")).toHaveTextContent("1 row matched no image: zz.jpg");
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toBeInstanceOf(FormData);

    // The new columns are fetched again and offered.
    await userEvent.click(await screen.findByRole("textbox", { name: "Column" }));
    await userEvent.click(await screen.findByRole("option", { name: "camera (3)", hidden: true }));
    await userEvent.click(await screen.findByRole("textbox", { name: /Show images whose camera is/ }));
    await userEvent.click(await screen.findByRole("option", { name: "north (2)", hidden: true }));
    expect(onMeta).toHaveBeenCalledWith("camera", "north");
  });

  it("shows the filters applied and removes one", async () => {
    mockApi({ "GET /api/v1/projects/3/metadata/": { body: { columns } } });
    const onMeta = vi.fn();
    renderWithProviders(<MetadataFilter projectId={3} meta={{ camera: "south" }} onMeta={onMeta} />);
    expect(await screen.findByTestId("metadata-filter-chip")).toHaveTextContent("camera = south");
    await userEvent.click(screen.getByRole("button", { name: "Stop filtering by camera" }));
    await waitFor(() => expect(onMeta).toHaveBeenCalledWith("camera", null));
  });

  it("says in words why a CSV was refused", async () => {
    mockApi({
      "GET /api/v1/projects/3/metadata/": { body: { columns: [] } },
      "POST /api/v1/projects/3/metadata/": {
        status: 400,
        body: { error: { code: "csv_no_columns", message: "The CSV needs a header row and at least two columns." } },
      },
    });
    const { container } = renderWithProviders(<MetadataFilter projectId={3} meta={{}} onMeta={() => undefined} />);
    const input = container.querySelector('input[type="file"]') as HTMLInputElement;
    await userEvent.upload(input, new File(["x\n"], "bad.csv", { type: "text/csv" }));
    expect(await screen.findByTestId("metadata-error")).toHaveTextContent("at least two columns");
  });
});
