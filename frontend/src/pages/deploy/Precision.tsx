import { Group, Input, SegmentedControl, Text, Tooltip } from "@mantine/core";
import type { ModelVersion, Precision } from "../../api/types";
import { formatBytes, formatDecimal, formatPercent } from "../../lib/format";
import { accuracyChange } from "../model/Compression";

/** Can this version be served in int8 (it has an int8 file)? */
export function hasInt8(model: ModelVersion | undefined): boolean {
  return Boolean(model?.downloads?.int8);
}

/** What choosing int8 trades, in one line: "93.5% accuracy (−1.3 pts) · 3.4 MB · 8.8 ms". */
export function int8Summary(model: ModelVersion | undefined): string {
  const int8 = model?.metrics.int8;
  if (!int8 || int8.error || int8.accuracy === undefined) return "";
  const change = accuracyChange(int8.fp32?.accuracy, int8.accuracy);
  const parts = [
    `${formatPercent(int8.accuracy)} accuracy${change ? ` (${change})` : ""}`,
    formatBytes(int8.size_bytes),
  ];
  if (int8.latency_ms !== undefined && int8.fp32?.latency_ms !== undefined) {
    parts.push(`${formatDecimal(int8.latency_ms, 1)} ms vs ${formatDecimal(int8.fp32.latency_ms, 1)} ms per image`);
  }
  return parts.join(" · ");
}

/** fp32 or int8 for a deployment; int8 is offered only when the version has an int8 copy. */
export function PrecisionControl({
  model,
  value,
  onChange,
  disabled,
  testId = "deploy-precision",
  mt,
}: {
  model: ModelVersion | undefined;
  value: Precision;
  onChange: (precision: Precision) => void;
  disabled?: boolean;
  testId?: string;
  mt?: string;
}) {
  const available = hasInt8(model);
  const int8 = model?.metrics.int8;
  const reason =
    int8?.status === "compressing"
      ? "The int8 copy of this version is being made; it can be chosen within a minute."
      : int8?.error
        ? `This version has no int8 copy: ${int8.error}`
        : "This version has no int8 copy (trained before models were quantized).";
  const summary = int8Summary(model);
  return (
    <Input.Wrapper label="Precision" mt={mt}>
      <Group gap="xs" wrap="nowrap">
        <Tooltip label={reason} disabled={available}>
          <SegmentedControl
            value={value}
            onChange={(v) => onChange(v as Precision)}
            disabled={disabled}
            data={[
              { value: "fp32", label: "fp32" },
              { value: "int8", label: "int8", disabled: !available },
            ]}
            data-testid={testId}
          />
        </Tooltip>
        {summary && (
          <Text size="xs" c="dimmed" data-testid={`${testId}-summary`}>
            int8: {summary}
          </Text>
        )}
      </Group>
    </Input.Wrapper>
  );
}
