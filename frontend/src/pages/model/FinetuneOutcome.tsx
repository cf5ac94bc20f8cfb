/** Fine-tuning's outcome against the frozen-feature model it started from, in plain words:
 * whether an epoch beat it, why the run stopped, and, when none did, that the version IS
 * that model. Shared by the Train and Model pages. */
import { Alert, Text } from "@mantine/core";
import { IconInfoCircle, IconTrendingUp } from "@tabler/icons-react";
import type { TrainingMetrics } from "../../api/types";
import { formatPercent, plural } from "../../lib/format";
import { KeptProbeNotice } from "./scores";

export type FinetuneOutcome = NonNullable<TrainingMetrics["finetune"]>;

const TITLES: Record<FinetuneOutcome["outcome"], string> = {
  improved: "Fine-tuning beat the frozen-feature model",
  kept_probe: "Kept the frozen-feature model",
  unchecked: "Fine-tuning was not checked on validation images",
};

/** Title, the run's own sentence and a line of figures. */
export function finetuneSummary(outcome: FinetuneOutcome): { title: string; reason: string; figures: string } {
  const parts: string[] = [];
  if (typeof outcome.probe_accuracy === "number") parts.push(`frozen-feature model ${formatPercent(outcome.probe_accuracy)}`);
  if (typeof outcome.best_accuracy === "number" && outcome.outcome === "improved") {
    parts.push(`epoch ${outcome.best_epoch} ${formatPercent(outcome.best_accuracy)}${outcome.ema_used ? " (averaged weights)" : ""}`);
  }
  const ran = `${plural(outcome.epochs_run, "epoch")} of ${outcome.epochs_planned} run`;
  const figures = parts.length ? `Validation: ${parts.join(" → ")} · ${ran}` : ran;
  return { title: TITLES[outcome.outcome], reason: outcome.reason, figures };
}

/** Fine-tuning's outcome; older versions (no ``finetune`` figures) get the "kept" notice. */
export function FinetuneOutcomeNotice({ metrics }: { metrics: TrainingMetrics }) {
  const outcome = metrics.finetune;
  if (!outcome) return <KeptProbeNotice metrics={metrics} />;
  const { title, reason, figures } = finetuneSummary(outcome);
  const improved = outcome.outcome === "improved";
  return (
    <Alert
      color={improved ? "teal" : "blue"}
      variant="light"
      p="xs"
      title={title}
      icon={improved ? <IconTrendingUp size={16} /> : <IconInfoCircle size={16} />}
      data-testid="finetune-outcome"
      data-outcome={outcome.outcome}
    >
      <Text size="sm">{reason}</Text>
      <Text size="xs" c="dimmed">
        {figures}
      </Text>
    </Alert>
  );
}
