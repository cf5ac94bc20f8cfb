import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import { LABEL_SPLIT_CHARS, NewProjectModal, mergeLabels } from "./NewProjectModal";

function pills(): string[] {
  return Array.from(document.querySelectorAll(".mantine-Pill-label")).map((p) => p.textContent ?? "");
}

describe("the new project's Labels field (issue 13)", () => {
  it("splits on single characters only", () => {
    // Mantine makes a character class of these: a word would split labels at its letters.
    expect(LABEL_SPLIT_CHARS.every((c) => c.length === 1)).toBe(true);
    expect(mergeLabels(["ants"], " bees, ants ,")).toEqual(["ants", "bees"]);
  });

  it("turns typed `ants, bees` into the labels ants and bees", async () => {
    mockApi({});
    renderWithProviders(<NewProjectModal opened onClose={() => undefined} />);
    const input = await screen.findByTestId("project-labels");
    await userEvent.type(input, "ants, bees{Enter}");
    await waitFor(() => expect(pills()).toEqual(["ants", "bees"]));
  });

  it("turns pasted `ants, bees` into the labels ants and bees", async () => {
    mockApi({});
    renderWithProviders(<NewProjectModal opened onClose={() => undefined} />);
    const input = await screen.findByTestId("project-labels");
    fireEvent.paste(input, { clipboardData: { getData: () => "ants, bees" } });
    await waitFor(() => expect(pills()).toEqual(["ants", "bees"]));
  });
});
