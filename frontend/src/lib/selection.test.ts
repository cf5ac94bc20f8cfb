import { describe, expect, it } from "vitest";
import {
  EMPTY_SELECTION,
  isSelected,
  selectAllInFilter,
  selectionClick,
  selectionCount,
  selectionPrune,
  selectionTarget,
  selectionToggle,
} from "./selection";

const ids = [10, 11, 12, 13, 14, 15];
const sorted = (s: ReadonlySet<number>) => [...s].sort((a, b) => a - b);

describe("selection", () => {
  it("a plain click selects only that image", () => {
    const a = selectionClick(EMPTY_SELECTION, ids, 1);
    const b = selectionClick(a, ids, 3);
    expect(sorted(b.selected)).toEqual([13]);
    expect(b.anchor).toBe(3);
  });

  it("ctrl-click adds and removes single images", () => {
    let s = selectionClick(EMPTY_SELECTION, ids, 0);
    s = selectionClick(s, ids, 2, { toggle: true });
    s = selectionClick(s, ids, 4, { toggle: true });
    expect(sorted(s.selected)).toEqual([10, 12, 14]);
    s = selectionClick(s, ids, 2, { toggle: true });
    expect(sorted(s.selected)).toEqual([10, 14]);
  });

  it("shift-click selects the range from the anchor, in either direction", () => {
    let s = selectionClick(EMPTY_SELECTION, ids, 1);
    s = selectionClick(s, ids, 4, { shift: true });
    expect(sorted(s.selected)).toEqual([11, 12, 13, 14]);
    expect(s.anchor).toBe(1);
    // A second shift-click re-draws the range from the same anchor.
    s = selectionClick(s, ids, 0, { shift: true });
    expect(sorted(s.selected)).toEqual([10, 11]);
  });

  it("ctrl+shift adds a range to what is already selected", () => {
    let s = selectionClick(EMPTY_SELECTION, ids, 0);
    s = selectionClick(s, ids, 3, { toggle: true });
    s = selectionClick(s, ids, 5, { shift: true, toggle: true });
    expect(sorted(s.selected)).toEqual([10, 13, 14, 15]);
  });

  it("shift-click with no anchor selects just the clicked image", () => {
    const s = selectionClick(EMPTY_SELECTION, ids, 2, { shift: true });
    expect(sorted(s.selected)).toEqual([12]);
  });

  it("the checkbox toggles without clearing the rest", () => {
    let s = selectionClick(EMPTY_SELECTION, ids, 0);
    s = selectionToggle(s, ids, 5);
    expect(sorted(s.selected)).toEqual([10, 15]);
  });

  it("select-all-in-filter counts the whole filter and targets it", () => {
    const s = selectAllInFilter();
    expect(selectionCount(s, 5000)).toBe(5000);
    expect(isSelected(s, 999)).toBe(true);
    expect(selectionTarget(s)).toBe("filter");
    // Ctrl-click after "all" removes one loaded image and goes back to explicit ids.
    const t = selectionClick(s, ids, 0, { toggle: true });
    expect(t.allInFilter).toBe(false);
    expect(sorted(t.selected)).toEqual([11, 12, 13, 14, 15]);
  });

  it("explicit selections target ids and prune deleted ones", () => {
    let s = selectionClick(EMPTY_SELECTION, ids, 0);
    s = selectionClick(s, ids, 2, { shift: true });
    expect(selectionTarget(s)).toEqual([10, 11, 12]);
    const pruned = selectionPrune(s, [10, 12, 13]);
    expect(sorted(pruned.selected)).toEqual([10, 12]);
    expect(selectionPrune(pruned, [10, 12])).toBe(pruned);
  });

  it("ignores clicks outside the list", () => {
    expect(selectionClick(EMPTY_SELECTION, ids, 99)).toBe(EMPTY_SELECTION);
  });
});
