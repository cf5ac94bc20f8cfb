import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Outlet, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { App } from "../App";
import type { Project } from "../api/types";
import DeployPage from "../pages/deploy/DeployPage";
import ModelPage from "../pages/model/ModelPage";
import TrainPage from "../pages/train/TrainPage";
import { mockApi, renderWithProviders } from "./utils";


const project: Project = {
  id: 3,
  name: "Ants or bees",
  description: "",
  predicts: "Is it an ant or a bee?",
  task_type: "single_label",
  target_metric: "accuracy",
  target_value: 0.9,
  target_display: "90% accuracy",
  backbone: "efficientnet_lite0",
  labels: [],
  image_count: 240,
  labeled_count: 200,
  label_count: 2,
  latest_accuracy: 0.934,
  created_at: "2025-01-01T00:00:00Z",
  updated_at: "2025-01-01T00:00:00Z",
};

function inProject(element: React.ReactElement, route: string) {
  return renderWithProviders(
    <Routes>
      <Route path="/projects/:projectId" element={<Outlet context={{ project }} />}>
        <Route path="train" element={element} />
        <Route path="deploy" element={element} />
        <Route path="model" element={element} />
      </Route>
    </Routes>,
    { route },
  );
}

describe("log in", () => {
  it("sends a visitor to the log-in page and shows the server's message on a wrong password", async () => {
    const { calls } = mockApi({
      "GET /api/v1/auth/session/": { body: { authenticated: false, user: null } },
      "GET /api/v1/auth/config/": { body: { signup_enabled: true } },
      "POST /api/v1/auth/login/": {
        status: 400,
        body: { error: { code: "invalid_credentials", message: "The user name or password is wrong." } },
      },
    });
    renderWithProviders(<App />, { route: "/projects/3/dataset" });
    const username = await screen.findByTestId("login-username");
    await userEvent.type(username, "ann");
    await userEvent.type(screen.getByTestId("login-password"), "nope");
    await userEvent.click(screen.getByTestId("login-submit"));
    expect(await screen.findByTestId("login-error")).toHaveTextContent("The user name or password is wrong.");
    expect(screen.getByTestId("login-error").textContent).not.toContain("{");
    const login = calls.find((c) => c.method === "POST");
    expect(login?.body).toEqual({ username: "ann", password: "nope" });
    expect(screen.getByTestId("to-signup")).toBeInTheDocument();
  });

  it("shows the projects with counts and accuracy once logged in", async () => {
    mockApi({
      "GET /api/v1/auth/session/": { body: { authenticated: true, user: { id: 1, username: "ann", email: "" } } },
      "GET /api/v1/health/": { body: { status: "ok", database: "ok", broker: "ok", workers: 2 } },
      "GET /api/v1/projects/": { body: { count: 1, next: null, previous: null, results: [project] } },
    });
    renderWithProviders(<App />, { route: "/" });
    const card = await screen.findByTestId("project-card");
    expect(card).toHaveTextContent("Ants or bees");
    expect(card).toHaveTextContent("240 images");
    expect(card).toHaveTextContent("2 labels");
    expect(within(card).getByTestId("project-accuracy")).toHaveTextContent("93.4%");
    expect(card).toHaveAttribute("href", "/projects/3/dataset");
  });

  it("guides a new user to create a project", async () => {
    mockApi({
      "GET /api/v1/auth/session/": { body: { authenticated: true, user: { id: 1, username: "ann", email: "" } } },
      "GET /api/v1/health/": { body: { status: "ok", database: "ok", broker: "ok", workers: 0 } },
      "GET /api/v1/projects/": { body: { count: 0, next: null, previous: null, results: [] } },
    });
    renderWithProviders(<App />, { route: "/" });
    expect(await screen.findByTestId("projects-empty")).toHaveTextContent("Create your first project");
    expect(await screen.findByTestId("health-badge")).toHaveTextContent("No workers");
  });
});

describe("train page", () => {
  it("shows a failed job's error in words and the start error from the server", async () => {
    const { calls } = mockApi({
      "GET /api/v1/projects/3/training-jobs/": {
        body: [{ id: 9, mode: "quick", status: "failed", progress: 0.4, stage: "training", metrics: {}, model_version: null, error: "Each label needs at least 5 images." }],
      },
      "GET /api/v1/training-jobs/9/": {
        // The detail adds the technical log and the snapshot's size (apps/training's detail serializer).
        body: {
          id: 9, mode: "quick", status: "failed", progress: 0.4, stage: "training", metrics: {}, model_version: null,
          error: "Each label needs at least 5 images.", log: "Traceback (most recent call last): ValueError", image_count: 12,
        },
      },
      "GET /api/v1/projects/3/stats/": { body: { total: 3, unlabeled: 0, labels: [], splits: {}, warnings: [] } },
      "POST /api/v1/projects/3/training-jobs/": {
        status: 400,
        body: { error: { code: "not_enough_data", message: "Label at least 5 images of each label before training." } },
      },
    });
    inProject(<TrainPage />, "/projects/3/train");
    expect(await screen.findByTestId("training-error")).toHaveTextContent("Each label needs at least 5 images.");
    expect(screen.getByTestId("training-log")).toHaveTextContent("Traceback (most recent call last)");
    expect(screen.getByTestId("training-job")).toHaveTextContent("12 images");
    await userEvent.click(screen.getByTestId("train-button"));
    expect(await screen.findByTestId("train-start-error")).toHaveTextContent("Label at least 5 images of each label before training.");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ mode: "quick" });
  });

  it("draws the running job's progress and stage", async () => {
    const running = {
      id: 4,
      mode: "finetune",
      status: "running",
      progress: 0.5,
      stage: "training",
      metrics: { history: [{ epoch: 1, loss: 0.7, accuracy: 0.6, val_accuracy: 0.58 }] },
      model_version: null,
      error: "",
    };
    mockApi({
      "GET /api/v1/projects/3/training-jobs/": { body: [running] },
      "GET /api/v1/training-jobs/4/": { body: running },
      "GET /api/v1/projects/3/stats/": { body: { total: 3, unlabeled: 0, labels: [], splits: {}, warnings: [] } },
    });
    inProject(<TrainPage />, "/projects/3/train?mode=finetune");
    expect(await screen.findByTestId("training-stage")).toHaveTextContent("Training");
    expect(screen.getByTestId("training-progress")).toBeInTheDocument();
    expect(screen.getByText("50%")).toBeInTheDocument();
    expect(screen.getByTestId("train-button")).toBeDisabled();
  });
});

describe("deploy page", () => {
  it("shows a new API key once, with the snippets filled in", async () => {
    const model = { id: 11, number: 2, backbone: "efficientnet_lite0", mode: "quick", labels: ["ants", "bees"], created_at: "2025-01-01T00:00:00Z", metrics: { accuracy: 0.95 } };
    // The shape apps/deployments answers: absolute URLs, the live version nested.
    const deployment = {
      id: 1,
      slug: "ants-or-bees",
      name: "",
      project: 3,
      predict_url: "http://bakehouse.test/api/v1/predict/ants-or-bees/",
      try_url: "http://bakehouse.test/api/v1/deployments/ants-or-bees/try/",
      model_version: { id: 11, number: 2, mode: "quick", backbone: "efficientnet_lite0", labels: ["ants", "bees"], accuracy: 0.95, created_at: "2025-01-01T00:00:00Z" },
      threshold: 0.6,
      store_images: true,
      rate_limit: "600/min",
      created_at: "2025-01-01T00:00:00Z",
      updated_at: "2025-01-01T00:00:00Z",
    };
    const { calls } = mockApi({
      "GET /api/v1/projects/3/models/": { body: [model] },
      "GET /api/v1/projects/3/deployments/": { body: [deployment] },
      "GET /api/v1/deployments/ants-or-bees/keys/": { body: [] },
      "GET /api/v1/deployments/ants-or-bees/predictions/": { body: { count: 0, next: null, previous: null, results: [] } },
      "GET /api/v1/projects/3/labels/": { body: [{ id: 1, name: "ants" }, { id: 2, name: "bees" }] },
      "POST /api/v1/deployments/ants-or-bees/keys/": {
        status: 201,
        body: { id: "AbC123", name: "phone", prefix: "AbC123", key: "AbC123.secretvalue", created: "2025-01-01T00:00:00Z", revoked: false },
      },
    });
    inProject(<DeployPage />, "/projects/3/deploy");
    expect(await screen.findByTestId("deployment-version")).toHaveTextContent("Serving v2");
    expect(screen.getByTestId("predict-url")).toHaveValue("http://bakehouse.test/api/v1/predict/ants-or-bees/");
    await userEvent.type(screen.getByTestId("key-name"), "phone");
    await userEvent.click(screen.getByTestId("create-key"));
    expect(await screen.findByTestId("api-key-value")).toHaveTextContent("AbC123.secretvalue");
    expect(screen.getByTestId("copy-key")).toBeInTheDocument();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "phone" });
    await waitFor(() => expect(screen.getByTestId("snippet-curl")).toHaveTextContent("Api-Key AbC123.secretvalue"));
  });

  it("shows what the deployed model answers for a tried image", async () => {
    const model = { id: 11, number: 2, backbone: "efficientnet_lite0", mode: "quick", labels: ["ants", "bees"], created_at: "2025-01-01T00:00:00Z", metrics: { accuracy: 0.95 } };
    const deployment = {
      slug: "ants-or-bees",
      name: "production",
      predict_url: "http://bakehouse.test/api/v1/predict/ants-or-bees/",
      model_version: { id: 11, number: 2 },
      threshold: 0.6,
      store_images: true,
    };
    // The answer apps/deployments gives: model_version is the version's id, the number is separate.
    const answer = {
      id: "4b0d1c9e-8a47-4f57-9d83-0c6a4c1e2f10",
      deployment: "ants-or-bees",
      model_version: 11,
      model_version_number: 2,
      prediction: { label: "bees", confidence: 0.87 },
      predictions: [
        { label: "bees", confidence: 0.87 },
        { label: "ants", confidence: 0.13 },
      ],
      uncertain: false,
      latency_ms: 23.4,
    };
    const { calls } = mockApi({
      "GET /api/v1/projects/3/models/": { body: { count: 1, next: null, previous: null, results: [model] } },
      "GET /api/v1/projects/3/deployments/": { body: { count: 1, next: null, previous: null, results: [deployment] } },
      "GET /api/v1/deployments/ants-or-bees/keys/": { body: [] },
      "GET /api/v1/deployments/ants-or-bees/predictions/": { body: { count: 0, next: null, previous: null, results: [] } },
      "GET /api/v1/projects/3/labels/": { body: [{ id: 1, name: "ants" }, { id: 2, name: "bees" }] },
      "POST /api/v1/deployments/ants-or-bees/try/": { body: answer },
    });
    inProject(<DeployPage />, "/projects/3/deploy");
    const input = await screen.findByTestId("try-input");
    await userEvent.upload(input, new File([new Uint8Array([255, 216, 255])], "bee.jpg", { type: "image/jpeg" }));
    expect(await screen.findByTestId("try-label")).toHaveTextContent("bees");
    expect(screen.getByTestId("try-result")).toHaveTextContent("87%");
    expect(screen.getByTestId("try-result")).toHaveTextContent("by model v2");
    const sent = calls.find((c) => c.method === "POST")?.body;
    expect(sent).toBeInstanceOf(FormData);
    expect((sent as FormData).get("image")).toBeInstanceOf(File);
  });
});

describe("model page", () => {
  it("shows the metrics the training app stores, the confusion matrix and the mistakes", async () => {
    // metrics as apps/ml.evaluate + apps/training.runner write them.
    const version = {
      id: 21,
      project: 3,
      number: 1,
      backbone: "efficientnet_lite0",
      mode: "quick",
      labels: ["ants", "bees"],
      created_at: "2025-01-01T00:00:00Z",
      training_job: 4,
      downloads: { onnx: "http://bakehouse.test/api/v1/models/21/download/?file=onnx" },
      metrics: {
        count: 10,
        accuracy: 0.9,
        macro_f1: 0.89899,
        per_class: {
          ants: { precision: 1, recall: 0.8, f1: 0.88889, support: 5 },
          bees: { precision: 0.83333, recall: 1, f1: 0.90909, support: 5 },
        },
        confusion_matrix: [
          [4, 1],
          [0, 5],
        ],
        ece: 0.041,
        misclassified: [{ id: 77, true: "ants", predicted: "bees", confidence: 0.71 }],
        evaluated_on: "test",
        counts: { train: 16, val: 2, held_out: 10 },
        history: [{ step: 15, loss: 0.3, train_accuracy: 0.9, val_accuracy: 0.8 }],
        target: { metric: "accuracy", value: 0.9, achieved: 0.9, reached: true },
      },
    };
    const image = {
      id: 77, filename: "ant.jpg", label: "ants", split: "test", width: 10, height: 10, format: "JPEG", size_bytes: 100,
      sha256: "x", source: "upload", created_at: "2025-01-01T00:00:00Z", thumbnail_url: "/media/t.jpg", file_url: "/media/f.jpg",
    };
    mockApi({
      "GET /api/v1/projects/3/models/": { body: { count: 1, next: null, previous: null, results: [version] } },
      "GET /api/v1/models/21/": { body: { ...version, snapshot: [] } },
      "GET /api/v1/projects/3/images/77/": { body: image },
      "GET /api/v1/projects/3/labels/": { body: [{ id: 1, name: "ants" }, { id: 2, name: "bees" }] },
    });
    inProject(<ModelPage />, "/projects/3/model");
    expect(await screen.findByTestId("model-accuracy")).toHaveTextContent("90%");
    expect(screen.getByText(/measured on 10 images of the test split/)).toBeInTheDocument();
    expect(screen.getByTestId("model-few-tested")).toHaveTextContent("each one moves the score by 10%");
    expect(screen.getAllByTestId("confusion-cell").map((c) => c.textContent)).toEqual(["4", "1", "0", "5"]);
    expect(screen.getByTestId("download-onnx")).toHaveAttribute("href", version.downloads.onnx);
    const mistake = await screen.findByTestId("misclassified-item");
    expect(mistake).toHaveAttribute("data-image-id", "77");
    expect(mistake).toHaveTextContent("bees");
    expect(screen.getByTestId("per-class")).toHaveTextContent("80%");
  });
});
