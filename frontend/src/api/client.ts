/**
 * The one way the app talks to the Bakehouse API.
 *
 * The browser is authenticated by Django's session cookie; unsafe requests carry the
 * CSRF token from the `csrftoken` cookie in `X-CSRFToken`. Every API error has the shape
 * `{"error": {"code", "message", "fields"?}}`; callers show `message`, never the raw body.
 * Requests go through `apiClient`, typed by the schema drf-spectacular generates.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema";

export const API_ROOT = "/api/v1/";

export type FieldErrors = Record<string, unknown>;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields?: FieldErrors;

  constructor(message: string, { status, code, fields }: { status: number; code: string; fields?: FieldErrors }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** The value of a cookie, or null. */
export function getCookie(name: string, cookieString: string = typeof document === "undefined" ? "" : document.cookie): string | null {
  for (const part of cookieString.split(";")) {
    const [rawKey, ...rest] = part.trim().split("=");
    if (rawKey === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** The headers an unsafe request needs so Django's CSRF check passes. */
export function csrfHeaders(method: string): Record<string, string> {
  if (SAFE_METHODS.has(method.toUpperCase())) return {};
  const token = getCookie("csrftoken");
  return token ? { "X-CSRFToken": token } : {};
}

/** A sentence for a status code when the server sent no usable message. */
export function statusMessage(status: number): string {
  if (status === 0) return "Could not reach the Bakehouse server. Check your connection and try again.";
  if (status === 401) return "Please log in to continue.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "That item no longer exists. It may have been deleted.";
  if (status === 413) return "That upload is too large for the server. Try fewer or smaller files.";
  if (status === 429) return "Too many requests. Please wait a moment and try again.";
  if (status >= 500) return `The server had a problem (error ${status}). Please try again in a moment.`;
  return `The request failed (error ${status}).`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Turns a response body (already parsed, or text) and status into an ApiError with a human message. */
export function errorFromBody(status: number, body: unknown): ApiError {
  if (isRecord(body) && isRecord(body.error)) {
    const err = body.error;
    const message = typeof err.message === "string" && err.message.trim() ? err.message : statusMessage(status);
    const code = typeof err.code === "string" ? err.code : "error";
    const fields = isRecord(err.fields) ? err.fields : undefined;
    return new ApiError(message, { status, code, fields });
  }
  // DRF's default shape, in case an endpoint escapes the custom handler.
  if (isRecord(body) && typeof body.detail === "string") {
    return new ApiError(body.detail, { status, code: "error" });
  }
  return new ApiError(statusMessage(status), { status, code: status === 0 ? "network" : "error" });
}

/** A message a person can read, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof DOMException && error.name === "AbortError") return "The request was cancelled.";
  if (error instanceof TypeError) return statusMessage(0);
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong. Please try again.";
}

/** The message for one form field, if the server sent one. */
export function fieldError(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError) || !error.fields) return undefined;
  const value = error.fields[field];
  if (typeof value === "string") return value;
  if (Array.isArray(value) && typeof value[0] === "string") return value[0];
  return undefined;
}

export type QueryValue = string | number | boolean | null | undefined;

/** `projects/3/images/` + {label: "ants", page: 2} -> "/api/v1/projects/3/images/?label=ants&page=2". */
export function apiUrl(path: string, query?: Record<string, QueryValue>): string {
  if (/^https?:\/\//.test(path) || path.startsWith("/")) {
    // Absolute links the API handed out (pagination `next`) are used as they are.
    return path;
  }
  const url = API_ROOT + path;
  if (!query) return url;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}

/**
 * A request whose multipart body (FormData) is kept aside and handed to fetch as it is: the
 * browser builds the body and its boundary itself, and nothing copies the files into a stream.
 */
class ApiRequest extends Request {
  readonly form: FormData | undefined;

  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const form = init?.body instanceof FormData ? init.body : undefined;
    super(input, form ? { ...init, body: undefined } : init);
    this.form = form;
  }
}

/** The typed API client (openapi-fetch over the generated schema, `make api-types`). */
export const apiClient = createClient<paths>({
  // Absolute, so the client also works where Request needs one (tests); same origin in a browser.
  baseUrl: typeof location === "undefined" ? "" : location.origin,
  credentials: "same-origin",
  Request: ApiRequest,
  // Looked up at call time, not captured once: tests replace the global fetch.
  fetch: (request: Request) =>
    request instanceof ApiRequest && request.form
      ? globalThis.fetch(request, { body: request.form })
      : globalThis.fetch(request),
});

apiClient.use({
  onRequest({ request }) {
    request.headers.set("Accept", "application/json");
    for (const [key, value] of Object.entries(csrfHeaders(request.method))) request.headers.set(key, value);
    return request;
  },
});

/** What an openapi-fetch call resolves to. */
interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The answer's data; null for an operation that answers no content (204). */
export type Answer<R extends FetchResult> = [Exclude<R["data"], undefined>] extends [never]
  ? null
  : Exclude<R["data"], undefined>;

/**
 * Awaits a typed client call and answers the parsed JSON; throws ApiError with a readable
 * message on any failure (status 0 when the server could not be reached).
 */
export async function call<R extends FetchResult>(pending: Promise<R>): Promise<Answer<R>> {
  let result: R;
  try {
    result = await pending;
  } catch (error) {
    if (error instanceof Error && error.name === "AbortError") throw error;
    throw new ApiError(statusMessage(0), { status: 0, code: "network" });
  }
  if (!result.response.ok) throw errorFromBody(result.response.status, result.error ?? null);
  return (result.data ?? null) as Answer<R>;
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/**
 * A multipart POST through XMLHttpRequest, because fetch cannot report upload progress.
 * Resolves with the parsed JSON; rejects with ApiError (status 0 when the network failed).
 */
export function xhrUpload<T>(
  path: string,
  form: FormData,
  { onProgress, signal }: { onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl(path));
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    for (const [key, value] of Object.entries(csrfHeaders("POST"))) xhr.setRequestHeader(key, value);
    if (onProgress) {
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress({ loaded: event.loaded, total: event.total });
      };
    }
    xhr.onload = () => {
      let parsed: unknown = xhr.responseText;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        /* not JSON: an HTML error page from a proxy */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else reject(errorFromBody(xhr.status, parsed));
    };
    xhr.onerror = () => reject(new ApiError(statusMessage(0), { status: 0, code: "network" }));
    xhr.onabort = () => reject(new ApiError("The upload was cancelled.", { status: 0, code: "aborted" }));
    if (signal) {
      if (signal.aborted) {
        reject(new ApiError("The upload was cancelled.", { status: 0, code: "aborted" }));
        return;
      }
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
    }
    xhr.send(form);
  });
}
