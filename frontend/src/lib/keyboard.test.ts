import { describe, expect, it } from "vitest";
import { INITIAL_LABELING, isTypingTarget, labelingKeyDown, type LabelingContext } from "./keyboard";

const ctx: LabelingContext = { count: 10, columns: 4, labels: ["ants", "bees", "wasps"] };
const at = (focus: number) => ({ focus, helpOpen: false });

describe("labelingKeyDown", () => {
  it("number keys assign the n-th label to the focused image", () => {
    const r = labelingKeyDown(at(3), { key: "2" }, ctx);
    expect(r.handled).toBe(true);
    expect(r.effect).toEqual({ type: "assign", label: "bees", index: 3 });
    expect(r.state.focus).toBe(3);
  });

  it("advances to the next image after labeling when asked", () => {
    const r = labelingKeyDown(at(3), { key: "1" }, { ...ctx, autoAdvance: true });
    expect(r.effect).toEqual({ type: "assign", label: "ants", index: 3 });
    expect(r.state.focus).toBe(4);
    const last = labelingKeyDown(at(9), { key: "1" }, { ...ctx, autoAdvance: true });
    expect(last.state.focus).toBe(9);
  });

  it("ignores a number with no label behind it", () => {
    const r = labelingKeyDown(at(0), { key: "7" }, ctx);
    expect(r.handled).toBe(false);
    expect(r.effect.type).toBe("none");
  });

  it("labels the first image when nothing is focused yet", () => {
    expect(labelingKeyDown(INITIAL_LABELING, { key: "3" }, ctx).effect).toEqual({ type: "assign", label: "wasps", index: 0 });
  });

  it("u clears the label", () => {
    expect(labelingKeyDown(at(5), { key: "u" }, ctx).effect).toEqual({ type: "assign", label: null, index: 5 });
    expect(labelingKeyDown(at(5), { key: "U" }, ctx).effect).toEqual({ type: "assign", label: null, index: 5 });
  });

  it("arrows move by one, up and down by a row, clamped to the list", () => {
    expect(labelingKeyDown(at(5), { key: "ArrowRight" }, ctx).state.focus).toBe(6);
    expect(labelingKeyDown(at(5), { key: "ArrowLeft" }, ctx).state.focus).toBe(4);
    expect(labelingKeyDown(at(5), { key: "ArrowDown" }, ctx).state.focus).toBe(9);
    expect(labelingKeyDown(at(5), { key: "ArrowUp" }, ctx).state.focus).toBe(1);
    expect(labelingKeyDown(at(8), { key: "ArrowDown" }, ctx).state.focus).toBe(9);
    expect(labelingKeyDown(at(0), { key: "ArrowLeft" }, ctx).state.focus).toBe(0);
    expect(labelingKeyDown(at(9), { key: "ArrowRight" }, ctx).state.focus).toBe(9);
    expect(labelingKeyDown(INITIAL_LABELING, { key: "ArrowRight" }, ctx).state.focus).toBe(0);
    expect(labelingKeyDown(at(4), { key: "End" }, ctx).state.focus).toBe(9);
    expect(labelingKeyDown(at(4), { key: "Home" }, ctx).state.focus).toBe(0);
  });

  it("? toggles the help, and other keys wait while it is open", () => {
    const open = labelingKeyDown(at(2), { key: "?" }, ctx);
    expect(open.state.helpOpen).toBe(true);
    expect(labelingKeyDown(open.state, { key: "1" }, ctx).handled).toBe(false);
    expect(labelingKeyDown(open.state, { key: "Escape" }, ctx).state.helpOpen).toBe(false);
    expect(labelingKeyDown(open.state, { key: "?" }, ctx).state.helpOpen).toBe(false);
  });

  it("Enter opens the focused image", () => {
    expect(labelingKeyDown(at(4), { key: "Enter" }, ctx).effect).toEqual({ type: "open", index: 4 });
    expect(labelingKeyDown(INITIAL_LABELING, { key: "Enter" }, ctx).handled).toBe(false);
  });

  it("leaves browser shortcuts and empty grids alone", () => {
    expect(labelingKeyDown(at(1), { key: "1", ctrlKey: true }, ctx).handled).toBe(false);
    expect(labelingKeyDown(at(1), { key: "ArrowRight", metaKey: true }, ctx).handled).toBe(false);
    expect(labelingKeyDown(at(-1), { key: "1" }, { ...ctx, count: 0 }).handled).toBe(false);
    expect(labelingKeyDown(at(1), { key: "x" }, ctx).handled).toBe(false);
  });
});

describe("isTypingTarget", () => {
  it("is true for text fields and false for buttons and checkboxes", () => {
    const text = document.createElement("input");
    const box = document.createElement("input");
    box.type = "checkbox";
    expect(isTypingTarget(text)).toBe(true);
    expect(isTypingTarget(document.createElement("textarea"))).toBe(true);
    expect(isTypingTarget(box)).toBe(false);
    expect(isTypingTarget(document.createElement("button"))).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });
});
