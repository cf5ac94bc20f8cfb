import { screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { TrainingMetrics } from "../../api/types";
import { renderWithProviders } from "../../test/utils";
import { FinetuneOutcomeNotice, finetuneSummary, type FinetuneOutcome } from "./FinetuneOutcome";

const kept: FinetuneOutcome = {
  outcome: "kept_probe",
  reason:
    "Fine-tuning stopped after 3 epochs: no epoch beat the frozen-feature model (95.4 % on validation; the best epoch reached 93.9 %), so that model was kept.",
  stopped: "patience",
  epochs_run: 3,
  epochs_planned: 10,
  best_epoch: 0,
  probe_accuracy: 0.954,
  best_accuracy: 0.954,
  ema_used: false,
};

describe("fine-tuning outcome (issue 15)", () => {
  it("says in words that the frozen-feature model was kept", () => {
    const summary = finetuneSummary(kept);
    expect(summary.title).toBe("Kept the frozen-feature model");
    expect(summary.reason).toContain("so that model was kept");
    expect(summary.figures).toBe("Validation: frozen-feature model 95.4% · 3 epochs of 10 run");
  });

  it("names the epoch that beat it and whether its averaged weights did", () => {
    const improved = { ...kept, outcome: "improved" as const, best_epoch: 4, best_accuracy: 0.98, ema_used: true };
    expect(finetuneSummary(improved).title).toBe("Fine-tuning beat the frozen-feature model");
    expect(finetuneSummary(improved).figures).toBe(
      "Validation: frozen-feature model 95.4% → epoch 4 98% (averaged weights) · 3 epochs of 10 run",
    );
  });

  it("renders the reason, and the older notice for versions without the figures", () => {
    const metrics: TrainingMetrics = { kept_probe: true, outcome: "kept_probe", finetune: kept };
    renderWithProviders(<FinetuneOutcomeNotice metrics={metrics} />);
    const notice = screen.getByTestId("finetune-outcome");
    expect(notice.dataset.outcome).toBe("kept_probe");
    expect(notice.textContent).toContain("Fine-tuning stopped after 3 epochs");
    renderWithProviders(<FinetuneOutcomeNotice metrics={{ kept_probe: true }} />);
    expect(screen.getByTestId("kept-probe")).toBeTruthy();
  });
});
