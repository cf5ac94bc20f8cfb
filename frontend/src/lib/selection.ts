/**
 * Multi-select for the thumbnail grid, as pure functions.
 *
 * click          select only that image
 * ctrl/⌘-click   add or remove one image
 * shift-click    select the range from the last clicked image (the anchor)
 * ctrl+shift     add the range to the current selection
 * "all in filter" stands for every image matching the filter, including ones not
 * loaded yet: bulk actions then send the filter instead of ids.
 */

export interface SelectionState {
  selected: ReadonlySet<number>;
  /** Index (in the loaded list) of the last plain or ctrl click; shift-click ranges start here. */
  anchor: number | null;
  allInFilter: boolean;
}

export interface ClickModifiers {
  shift?: boolean;
  /** ctrl on Windows/Linux, ⌘ on macOS. */
  toggle?: boolean;
}

export const EMPTY_SELECTION: SelectionState = { selected: new Set(), anchor: null, allInFilter: false };

export function selectionClick(
  state: SelectionState,
  ids: readonly number[],
  index: number,
  modifiers: ClickModifiers = {},
): SelectionState {
  const id = ids[index];
  if (id === undefined) return state;
  const base = state.allInFilter ? new Set<number>(ids) : new Set(state.selected);

  if (modifiers.shift) {
    const anchor = state.anchor !== null && state.anchor < ids.length ? state.anchor : index;
    const [from, to] = anchor <= index ? [anchor, index] : [index, anchor];
    const next = modifiers.toggle ? base : new Set<number>();
    for (let i = from; i <= to; i += 1) next.add(ids[i]);
    return { selected: next, anchor, allInFilter: false };
  }
  if (modifiers.toggle) {
    if (base.has(id)) base.delete(id);
    else base.add(id);
    return { selected: base, anchor: index, allInFilter: false };
  }
  return { selected: new Set([id]), anchor: index, allInFilter: false };
}

/** The checkbox on a thumbnail: toggles without clearing the rest. */
export function selectionToggle(state: SelectionState, ids: readonly number[], index: number): SelectionState {
  return selectionClick(state, ids, index, { toggle: true });
}

export function selectAllInFilter(): SelectionState {
  return { selected: new Set(), anchor: null, allInFilter: true };
}

export function selectionCount(state: SelectionState, totalInFilter: number): number {
  return state.allInFilter ? totalInFilter : state.selected.size;
}

export function isSelected(state: SelectionState, id: number): boolean {
  return state.allInFilter || state.selected.has(id);
}

/** What a bulk action acts on: the ids, or "filter" for every image matching the filter. */
export function selectionTarget(state: SelectionState): number[] | "filter" {
  return state.allInFilter ? "filter" : [...state.selected];
}

/** Drops ids that are no longer in the list (after a delete or a filter change). */
export function selectionPrune(state: SelectionState, ids: readonly number[]): SelectionState {
  if (state.allInFilter || state.selected.size === 0) return state;
  const present = new Set(ids);
  const kept = [...state.selected].filter((id) => present.has(id));
  if (kept.length === state.selected.size) return state;
  return { ...state, selected: new Set(kept) };
}
