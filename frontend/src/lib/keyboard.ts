/**
 * Keyboard labeling as a pure function: a key press and the grid's shape in, the next
 * focus and what to do (assign a label, clear it, open the viewer) out. The grid
 * component only applies the result, so the rules are testable without a browser.
 *
 *   1-9        assign the n-th label (to the selection when several images are selected)
 *   arrows     move the focus (up/down move a whole row)
 *   Home/End   first / last image
 *   u          clear the label
 *   Enter      open the focused image in the viewer
 *   ?          show or hide the shortcuts
 *   Escape     hide the shortcuts
 */

export interface LabelingState {
  /** Index of the focused thumbnail in the loaded list, or -1 before anything is focused. */
  focus: number;
  helpOpen: boolean;
}

export interface LabelingContext {
  /** Thumbnails loaded so far. */
  count: number;
  /** Thumbnails per grid row. */
  columns: number;
  /** The project's label names in shortcut order (key 1 is labels[0]). */
  labels: readonly string[];
  /** Move to the next image after labeling one (the fast path through unlabeled images). */
  autoAdvance?: boolean;
}

export interface KeyInput {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
}

export type LabelingEffect =
  | { type: "assign"; label: string | null; index: number }
  | { type: "open"; index: number }
  | { type: "none" };

export interface LabelingResult {
  state: LabelingState;
  effect: LabelingEffect;
  /** True when the key was a shortcut (the caller then prevents the browser's default). */
  handled: boolean;
}

export const INITIAL_LABELING: LabelingState = { focus: -1, helpOpen: false };

export const SHORTCUTS: ReadonlyArray<{ keys: string; action: string }> = [
  { keys: "1 – 9", action: "Give the image the 1st … 9th label" },
  { keys: "u", action: "Remove the image's label" },
  { keys: "← → ↑ ↓", action: "Move between images" },
  { keys: "Home / End", action: "First / last image" },
  { keys: "Enter", action: "Open the image viewer" },
  { keys: "Shift + click", action: "Select a range" },
  { keys: "Ctrl/⌘ + click", action: "Add or remove one image from the selection" },
  { keys: "?", action: "Show or hide these shortcuts" },
];

const NONE: LabelingEffect = { type: "none" };

function clamp(value: number, max: number): number {
  return Math.max(0, Math.min(max, value));
}

export function labelingKeyDown(state: LabelingState, input: KeyInput, ctx: LabelingContext): LabelingResult {
  const unchanged = { state, effect: NONE, handled: false };
  // Leave the browser's own shortcuts (copy, reload, find) alone.
  if (input.ctrlKey || input.metaKey || input.altKey) return unchanged;

  const { key } = input;
  if (key === "?") return { state: { ...state, helpOpen: !state.helpOpen }, effect: NONE, handled: true };
  if (state.helpOpen) {
    if (key === "Escape") return { state: { ...state, helpOpen: false }, effect: NONE, handled: true };
    return unchanged;
  }
  if (ctx.count === 0) return unchanged;

  const last = ctx.count - 1;
  const columns = Math.max(1, ctx.columns);
  const current = state.focus < 0 ? -1 : clamp(state.focus, last);
  const move = (to: number): LabelingResult => ({
    state: { ...state, focus: clamp(to, last) },
    effect: NONE,
    handled: true,
  });

  switch (key) {
    case "ArrowRight":
      return move(current + 1);
    case "ArrowLeft":
      return move(current < 0 ? 0 : current - 1);
    case "ArrowDown":
      return move(current < 0 ? 0 : current + columns);
    case "ArrowUp":
      return move(current < 0 ? 0 : current - columns);
    case "Home":
      return move(0);
    case "End":
      return move(last);
    case "Enter":
      if (current < 0) return unchanged;
      return { state, effect: { type: "open", index: current }, handled: true };
    default:
      break;
  }

  const target = current < 0 ? 0 : current;
  const next = ctx.autoAdvance ? clamp(target + 1, last) : target;
  if (key === "u" || key === "U") {
    return { state: { ...state, focus: next }, effect: { type: "assign", label: null, index: target }, handled: true };
  }
  if (/^[1-9]$/.test(key)) {
    const label = ctx.labels[Number(key) - 1];
    if (label === undefined) return unchanged;
    return { state: { ...state, focus: next }, effect: { type: "assign", label, index: target }, handled: true };
  }
  return unchanged;
}

/** Key events typed into a text field belong to that field, not to the grid. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return false;
  const el = target as HTMLElement;
  const tag = el.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select") return true;
  if (tag === "input") {
    const type = (el as HTMLInputElement).type;
    return !["checkbox", "radio", "button", "submit", "range", "file"].includes(type);
  }
  return el.isContentEditable === true;
}
