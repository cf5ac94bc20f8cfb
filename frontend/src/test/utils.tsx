import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter } from "react-router";
import { vi } from "vitest";
import { theme } from "../theme";

export interface MockCall {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (call: MockCall) => { status?: number; body?: unknown; text?: string };

/** Request headers as a record that answers any spelling of a name ("X-CSRFToken"). */
function headerRecord(headers: Headers): Record<string, string> {
  return new Proxy({} as Record<string, string>, {
    get: (_target, name) => (typeof name === "string" ? (headers.get(name) ?? undefined) : undefined),
    has: (_target, name) => typeof name === "string" && headers.has(name),
    ownKeys: () => [...headers.keys()],
    getOwnPropertyDescriptor: (_target, name) =>
      typeof name === "string" && headers.has(name)
        ? { value: headers.get(name), enumerable: true, configurable: true }
        : undefined,
  });
}


/**
 * Replaces fetch with a table of "METHOD /path" -> answer. Unknown requests answer 404 in
 * the API's error shape, so a test fails loudly on a call it did not expect.
 */
type Answer = { status?: number; body?: unknown; text?: string };

export function mockApi(routes: Record<string, Handler | Answer>) {
  const calls: MockCall[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    // The typed client (openapi-fetch) sends a Request with an absolute same-origin URL.
    const request = input instanceof Request ? input : null;
    const rawUrl = request ? request.url : String(input);
    const url = rawUrl.startsWith(location.origin) ? rawUrl.slice(location.origin.length) : rawUrl;
    const method = (request?.method ?? init.method ?? "GET").toUpperCase();
    const headers = request ? headerRecord(request.headers) : ((init.headers ?? {}) as Record<string, string>);
    let body: unknown = init.body ?? (request?.body ? await request.clone().text() : undefined);
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch {
        /* plain text */
      }
    }
    const call = { url, method, headers, body };
    calls.push(call);
    const path = url.split("?")[0];
    const route = routes[`${method} ${path}`] ?? routes[`${method} ${url}`];
    const answer: Answer =
      typeof route === "function"
        ? route(call)
        : route ?? { status: 404, body: { error: { code: "not_found", message: `No mock for ${method} ${url}` } } };
    const status = answer.status ?? 200;
    const isHtml = answer.text !== undefined;
    const text = isHtml ? (answer.text as string) : answer.body === undefined ? "" : JSON.stringify(answer.body);
    return new Response(status === 204 ? null : text, {
      status,
      headers: { "Content-Type": isHtml ? "text/html" : "application/json" },
    });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, fetchMock };
}

export function renderWithProviders(ui: ReactElement, { route = "/" }: { route?: string } = {}) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, staleTime: Infinity }, mutations: { retry: false } },
  });
  const result = render(
    <MantineProvider theme={theme}>
      <Notifications />
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={[route]}>{ui}</MemoryRouter>
      </QueryClientProvider>
    </MantineProvider>,
  );
  return { ...result, client };
}
