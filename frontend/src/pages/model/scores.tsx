/** How much backs a score: the test-image count and 95 % interval shown with every accuracy,
 * the target verdict that rests on the interval's low end, and fine-tuning's "kept the quick
 * model" outcome. Shared by the Train and Model pages. */
import { Alert, Text } from "@mantine/core";
import { IconAlertTriangle, IconInfoCircle } from "@tabler/icons-react";
import type { TrainingMetrics } from "../../api/types";
import { formatDuration, formatPercent, plural } from "../../lib/format";

export type Interval = NonNullable<TrainingMetrics["accuracy_interval"]>;

/** "meets": even the interval's low end clears the target; "may_meet": the score does but
 * the interval reaches below it; "below": the score itself misses. */
export type TargetVerdict = "meets" | "may_meet" | "below";

export function targetVerdict(metrics: TrainingMetrics, metric: string, target: number): TargetVerdict | null {
  const value = metric === "macro_f1" ? metrics.macro_f1 : metrics.accuracy;
  if (typeof value !== "number") return null;
  if (value < target) return "below";
  const interval = metrics.accuracy_interval;
  if (!interval) return "may_meet";
  // Macro F1 has no interval of its own: it gets the accuracy's margin below its value.
  const low = metric === "macro_f1" ? value - (interval.value - interval.low) : interval.low;
  return low >= target ? "meets" : "may_meet";
}

export const VERDICT_TEXT: Record<TargetVerdict, string> = {
  meets: "Meets the target",
  may_meet: "May meet the target",
  below: "Below the target",
};

export const VERDICT_COLOR: Record<TargetVerdict, string> = { meets: "teal", may_meet: "yellow", below: "orange" };

/** "95 % interval 82–98 % · 40 test images" */
export function intervalText(interval: Interval | null | undefined): string {
  if (!interval) return "";
  return `95% interval ${formatPercent(interval.low, 0)}–${formatPercent(interval.high, 0)} · ${plural(interval.images, "test image")}`;
}

export function IntervalNote({ interval, testId }: { interval: Interval | null | undefined; testId: string }) {
  if (!interval) return null;
  return (
    <Text size="xs" c="dimmed" data-testid={testId} data-images={interval.images} data-low={interval.low} data-high={interval.high}>
      {intervalText(interval)}
    </Text>
  );
}

export function TooFewImages({ interval }: { interval: Interval | null | undefined }) {
  if (!interval?.too_few_images) return null;
  return (
    <Alert color="yellow" variant="light" p="xs" icon={<IconAlertTriangle size={16} />} data-testid="too-few-test-images">
      <Text size="sm">
        Too few test images to tell reliably — add more labelled images. On {plural(interval.images, "test image")} the
        accuracy could be anywhere from {formatPercent(interval.low, 0)} to {formatPercent(interval.high, 0)}.
      </Text>
    </Alert>
  );
}

/** Fine-tuning found nothing better on validation: the version IS the frozen-network model
 * it started from (accurate mode's, or fast mode's for versions fine-tuned before that). */
export function KeptProbeNotice({ metrics }: { metrics: TrainingMetrics }) {
  if (!metrics.kept_probe) return null;
  return (
    <Alert color="blue" variant="light" p="xs" icon={<IconInfoCircle size={16} />} data-testid="kept-probe">
      <Text size="sm">
        Kept the model fine-tuning started from: adjusting the network did not beat it on validation
        {typeof metrics.seconds === "number" ? ` (it spent ${formatDuration(metrics.seconds)} trying)` : ""}. Its scores
        and mistakes are those of the pretrained network with a trained last layer; more labelled images give
        fine-tuning more to learn from.
      </Text>
    </Alert>
  );
}
