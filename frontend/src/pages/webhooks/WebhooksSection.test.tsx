import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mockApi, renderWithProviders } from "../../test/utils";
import { WebhooksSection } from "./WebhooksSection";

const WEBHOOK = {
  id: 4,
  url: "https://hooks.example.com/in",
  kind: "generic",
  events: ["training.succeeded"],
  active: true,
  created_at: "2026-12-06T19:00:00Z",
  updated_at: "2026-12-06T19:00:00Z",
};

// Typing into Mantine inputs on 2 busy cores takes seconds; the default 5 s is too tight.
describe("the project's webhooks (issue 17, item 5)", { timeout: 20_000 }, () => {
  it("adds a webhook with the chosen events and shows its secret once", async () => {
    const listed: unknown[] = [];
    const { calls } = mockApi({
      "GET /api/v1/projects/7/webhooks/": () => ({ body: listed }),
      "POST /api/v1/projects/7/webhooks/": (call) => {
        listed.push({ ...WEBHOOK, ...(call.body as object) });
        return { status: 201, body: { ...WEBHOOK, ...(call.body as object), secret: "whsec_abc123" } };
      },
    });
    renderWithProviders(<WebhooksSection projectId={7} />);
    await screen.findByText("No webhooks yet.");
    await userEvent.click(screen.getByTestId("webhook-add"));
    await userEvent.type(await screen.findByTestId("webhook-url"), "https://hooks.example.com/in");
    // Defaults: training.* and deployment.changed; add drift alerts, drop deployment.changed.
    await userEvent.click(screen.getByTestId("webhook-event-drift.alert"));
    await userEvent.click(screen.getByTestId("webhook-event-deployment.changed"));
    await userEvent.click(screen.getByTestId("webhook-save"));

    expect(await screen.findByTestId("webhook-secret")).toHaveTextContent("whsec_abc123");
    expect(screen.getByTestId("webhook-secret-copy")).toBeInTheDocument();
    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toEqual({
      url: "https://hooks.example.com/in",
      kind: "generic",
      events: ["training.succeeded", "training.failed", "drift.alert"],
    });
    await userEvent.click(screen.getByText("I have copied it"));
    await waitFor(() => expect(screen.queryByTestId("webhook-secret")).not.toBeInTheDocument());
    // The list shows the webhook, never a secret.
    expect(await screen.findByTestId("webhook-item-url")).toHaveTextContent("https://hooks.example.com/in");
    expect(document.body.textContent).not.toContain("whsec_abc123");
  });

  it("shows why an address is refused next to the field", async () => {
    mockApi({
      "GET /api/v1/projects/7/webhooks/": { body: [] },
      "POST /api/v1/projects/7/webhooks/": {
        status: 400,
        body: {
          error: {
            code: "invalid_url",
            message: "Webhooks can only be sent to a public http:// or https:// address.",
            fields: { url: ["Webhooks can only be sent to a public http:// or https:// address."] },
          },
        },
      },
    });
    renderWithProviders(<WebhooksSection projectId={7} />);
    await userEvent.click(await screen.findByTestId("webhook-add"));
    await userEvent.type(await screen.findByTestId("webhook-url"), "http://10.0.0.3/x");
    await userEvent.click(screen.getByTestId("webhook-save"));
    expect(await screen.findByText(/public http/)).toBeInTheDocument();
  });

  it("sends a test event and lists the deliveries with each try's answer", async () => {
    const deliveries: unknown[] = [];
    const { calls } = mockApi({
      "GET /api/v1/projects/7/webhooks/": { body: [WEBHOOK] },
      "GET /api/v1/projects/7/webhooks/4/deliveries/": () => ({ body: deliveries }),
      "POST /api/v1/projects/7/webhooks/4/test/": () => {
        const delivery = {
          id: 1,
          event_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
          event_type: "webhook.test",
          status: "succeeded",
          attempts: 2,
          response_status: 200,
          error: "",
          created_at: "2026-12-06T19:01:00Z",
          finished_at: "2026-12-06T19:01:02Z",
          tries: [
            { attempt: 1, status_code: 503, error: "The receiver answered 503.", duration_ms: 12, started_at: "2026-12-06T19:01:00Z", finished_at: "2026-12-06T19:01:00Z" },
            { attempt: 2, status_code: 200, error: "", duration_ms: 9, started_at: "2026-12-06T19:01:02Z", finished_at: "2026-12-06T19:01:02Z" },
          ],
        };
        deliveries.push(delivery);
        return { status: 202, body: delivery };
      },
    });
    renderWithProviders(<WebhooksSection projectId={7} />);
    await userEvent.click(await screen.findByTestId("webhook-test"));
    await waitFor(() => expect(screen.getAllByTestId("webhook-try-code").map((b) => b.textContent)).toEqual(["503", "200"]));
    expect(screen.getByText("webhook.test")).toBeInTheDocument();
    expect(calls.some((c) => c.method === "POST" && c.url.endsWith("/webhooks/4/test/"))).toBe(true);
  });
});
