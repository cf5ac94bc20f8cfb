import { afterEach, describe, expect, it, vi } from "vitest";
import { mockApi } from "../test/utils";
import { apiClient, ApiError, apiUrl, call, csrfHeaders, errorFromBody, errorMessage, fieldError, getCookie, statusMessage } from "./client";

function setCookie(value: string) {
  document.cookie = value;
}

afterEach(() => {
  document.cookie = "csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/";
});

describe("cookies and CSRF", () => {
  it("reads one cookie among several", () => {
    expect(getCookie("csrftoken", "sessionid=abc; csrftoken=tok%3D1; other=x")).toBe("tok=1");
    expect(getCookie("missing", "a=b")).toBeNull();
  });

  it("adds X-CSRFToken only to unsafe methods", () => {
    setCookie("csrftoken=secret123");
    expect(csrfHeaders("GET")).toEqual({});
    expect(csrfHeaders("post")).toEqual({ "X-CSRFToken": "secret123" });
    expect(csrfHeaders("DELETE")).toEqual({ "X-CSRFToken": "secret123" });
  });

  it("sends the CSRF header and same-origin credentials on a JSON POST", async () => {
    setCookie("csrftoken=abc");
    const { calls, fetchMock } = mockApi({ "POST /api/v1/projects/": { status: 201, body: { id: 7 } } });
    const answer = await call(apiClient.POST("/api/v1/projects/", { body: { name: "x" } }));
    expect(answer.id).toBe(7);
    expect(calls[0].headers["X-CSRFToken"]).toBe("abc");
    expect(calls[0].headers["Content-Type"]).toBe("application/json");
    expect(calls[0].body).toEqual({ name: "x" });
    expect((fetchMock.mock.calls[0][0] as Request).credentials).toBe("same-origin");
  });

  it("does not send the CSRF header on GET", async () => {
    setCookie("csrftoken=abc");
    const { calls } = mockApi({ "GET /api/v1/auth/me/": { body: { id: 1 } } });
    await call(apiClient.GET("/api/v1/auth/me/"));
    expect(calls[0].headers["X-CSRFToken"]).toBeUndefined();
  });
});

describe("errors", () => {
  it("uses the API's message, code and fields", async () => {
    mockApi({
      "POST /api/v1/auth/login/": {
        status: 400,
        body: { error: { code: "invalid", message: "Wrong user name or password.", fields: { password: ["Too short."] } } },
      },
    });
    const body = { username: "ann", password: "x" };
    const error = (await call(apiClient.POST("/api/v1/auth/login/", { body })).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe("Wrong user name or password.");
    expect(error.status).toBe(400);
    expect(error.code).toBe("invalid");
    expect(fieldError(error, "password")).toBe("Too short.");
    expect(fieldError(error, "username")).toBeUndefined();
  });

  it("never shows an HTML error page or a stack trace", async () => {
    mockApi({ "GET /api/v1/projects/": { status: 502, text: "<html><body>Traceback (most recent call last)</body></html>" } });
    const error = (await call(apiClient.GET("/api/v1/projects/")).catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe(statusMessage(502));
    expect(error.message).not.toMatch(/Traceback|<html/);
  });

  it("turns a network failure into a sentence", async () => {
    const fetchMock = async () => {
      throw new TypeError("Failed to fetch");
    };
    vi.stubGlobal("fetch", fetchMock);
    const error = (await call(apiClient.GET("/api/v1/health/")).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
    expect(errorMessage(error)).toMatch(/Could not reach/);
  });

  it("reads DRF's default {detail} shape too", () => {
    expect(errorFromBody(403, { detail: "Authentication credentials were not provided." }).message).toBe(
      "Authentication credentials were not provided.",
    );
    expect(errorFromBody(404, null).message).toBe(statusMessage(404));
    expect(errorFromBody(400, { error: { code: "x", message: "  " } }).message).toBe(statusMessage(400));
  });

  it("has a message for anything thrown", () => {
    expect(errorMessage(new Error("Boom in words"))).toBe("Boom in words");
    expect(errorMessage("weird")).toBe("Something went wrong. Please try again.");
    expect(errorMessage(new TypeError("x"))).toMatch(/Could not reach/);
  });
});

describe("apiUrl", () => {
  it("adds the prefix and drops empty query values", () => {
    expect(apiUrl("projects/3/images/", { label: "ants", unlabeled: undefined, page: 2, split: "" })).toBe(
      "/api/v1/projects/3/images/?label=ants&page=2",
    );
    expect(apiUrl("health/")).toBe("/api/v1/health/");
  });

  it("keeps absolute links from pagination as they are", () => {
    expect(apiUrl("http://host/api/v1/x/?page=2")).toBe("http://host/api/v1/x/?page=2");
  });
});

describe("xhrUpload", () => {
  class FakeXhr {
    static last: FakeXhr;
    headers: Record<string, string> = {};
    method = "";
    url = "";
    withCredentials = false;
    status = 0;
    responseText = "";
    sent: FormData | null = null;
    upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: (() => void) | null = null;
    constructor() {
      FakeXhr.last = this;
    }
    open(method: string, url: string) {
      this.method = method;
      this.url = url;
    }
    setRequestHeader(key: string, value: string) {
      this.headers[key] = value;
    }
    send(body: FormData) {
      this.sent = body;
    }
    abort() {
      this.onabort?.();
    }
  }

  it("posts the files with the CSRF header, reports progress, and reads the report", async () => {
    setCookie("csrftoken=tok");
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const { imageUpload } = await import("./uploads");
    const progress: number[] = [];
    const files = [new File(["a"], "a.jpg"), new File(["b"], "b.jpg")];
    const promise = imageUpload(3, files, { label: "ants", onProgress: (p) => progress.push(p.loaded / p.total) });
    const xhr = FakeXhr.last;
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/v1/projects/3/images/");
    expect(xhr.headers["X-CSRFToken"]).toBe("tok");
    expect(xhr.withCredentials).toBe(true);
    expect(xhr.sent?.getAll("files")).toHaveLength(2);
    expect(xhr.sent?.get("label")).toBe("ants");
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 50, total: 100 });
    xhr.status = 201;
    xhr.responseText = JSON.stringify({ created: [{ id: 1, filename: "a.jpg" }], duplicates: [], rejected: [] });
    xhr.onload?.();
    const report = await promise;
    expect(report.created[0].filename).toBe("a.jpg");
    expect(progress).toEqual([0.5]);
  });

  it("rejects with the server's message when the batch is refused", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const { imageUpload } = await import("./uploads");
    const promise = imageUpload(3, [new File(["a"], "a.jpg")], {});
    const xhr = FakeXhr.last;
    xhr.status = 413;
    xhr.responseText = JSON.stringify({ error: { code: "too_large", message: "The upload is too big." } });
    xhr.onload?.();
    await expect(promise).rejects.toMatchObject({ status: 413, message: "The upload is too big." });
  });
});
