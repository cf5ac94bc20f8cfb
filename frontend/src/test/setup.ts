import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach, vi } from "vitest";

afterEach(() => cleanup());

// jsdom lacks the browser APIs Mantine relies on.
Object.defineProperty(window, "matchMedia", {
  writable: true,
  value: vi.fn().mockImplementation((query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: vi.fn(),
    removeListener: vi.fn(),
    addEventListener: vi.fn(),
    removeEventListener: vi.fn(),
    dispatchEvent: vi.fn(),
  })),
});

class ResizeObserverStub {
  observe() {}
  unobserve() {}
  disconnect() {}
}
window.ResizeObserver = window.ResizeObserver ?? (ResizeObserverStub as unknown as typeof ResizeObserver);
window.HTMLElement.prototype.scrollIntoView = window.HTMLElement.prototype.scrollIntoView ?? (() => {});
// Mantine's recommended jsdom shim: getComputedStyle without pseudo-element support.
const { getComputedStyle } = window;
window.getComputedStyle = (element: Element) => getComputedStyle(element);
// Image previews (try it, the upload list) make object URLs; jsdom has none.
URL.createObjectURL = URL.createObjectURL ?? (() => "blob:preview");
URL.revokeObjectURL = URL.revokeObjectURL ?? (() => {});
// jsdom has no PointerEvent: without one, fired pointer events carry no position.
class PointerEventShim extends MouseEvent {
  readonly pointerId: number;
  constructor(type: string, init: PointerEventInit = {}) {
    super(type, init);
    this.pointerId = init.pointerId ?? 0;
  }
}
window.PointerEvent = window.PointerEvent ?? (PointerEventShim as unknown as typeof PointerEvent);
