import { Alert, Badge, Card, Group, Loader, ScrollArea, Table, Text, Tooltip } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import type { Int8Metrics, ModelVersion } from "../../api/types";
import { formatBytes, formatDecimal, formatNumber, formatPercent } from "../../lib/format";

type Figures = NonNullable<Int8Metrics["fp32"]>;

/** "−0.7 pts" / "+0.3 pts" / "same": the int8 accuracy against fp32's, in points. */
export function accuracyChange(fp32: number | undefined, int8: number | undefined): string {
  if (fp32 === undefined || int8 === undefined) return "";
  // From the percentages as shown (one decimal), so the difference matches them.
  const points = (Math.round(int8 * 1000) - Math.round(fp32 * 1000)) / 10;
  if (points === 0) return "same";
  return `${points > 0 ? "+" : "−"}${Math.abs(points).toFixed(1)} pts`;
}

/** "3.8× smaller" / "1.6× faster": how many times ``better`` beats ``worse``. */
export function ratio(worse: number | undefined, better: number | undefined): string {
  if (!worse || !better) return "";
  return `${formatDecimal(worse / better, 1)}×`;
}

const ROWS: { key: keyof Figures; name: string; hint: string; show: (f: Figures) => string }[] = [
  {
    key: "accuracy",
    name: "Accuracy",
    hint: "On the held-out images, through the same preprocessing as the prediction API.",
    show: (f) => formatPercent(f.accuracy),
  },
  { key: "size_bytes", name: "Size", hint: "The ONNX file.", show: (f) => formatBytes(f.size_bytes) },
  {
    key: "latency_ms",
    name: "Latency",
    hint: "One image, one CPU core, the network's forward pass only (median).",
    show: (f) => (f.latency_ms === undefined ? "—" : `${formatDecimal(f.latency_ms, 1)} ms`),
  },
  {
    key: "throughput_per_s",
    name: "Throughput",
    hint: "Images per second on one core, in batches of 8.",
    show: (f) => (f.throughput_per_s === undefined ? "—" : `${formatNumber(Math.round(f.throughput_per_s))} /s`),
  },
];

/** "1.6× faster" when int8 wins, "1.1× slower" when it does not (a busy machine can say so). */
export function speedChange(fp32Ms: number | undefined, int8Ms: number | undefined): string {
  if (!fp32Ms || !int8Ms) return "";
  return fp32Ms >= int8Ms ? `${ratio(fp32Ms, int8Ms)} faster` : `${ratio(int8Ms, fp32Ms)} slower`;
}

function gain(key: keyof Figures, fp32: Figures, int8: Figures): string {
  if (key === "accuracy") return accuracyChange(fp32.accuracy, int8.accuracy);
  if (key === "size_bytes") {
    const r = ratio(fp32.size_bytes, int8.size_bytes);
    return r && `${r} smaller`;
  }
  if (key === "latency_ms") return speedChange(fp32.latency_ms, int8.latency_ms);
  if (key === "throughput_per_s") {
    // Throughput is a rate: the time per image is its inverse.
    const perImage = (rate: number | undefined) => (rate ? 1000 / rate : undefined);
    return speedChange(perImage(fp32.throughput_per_s), perImage(int8.throughput_per_s));
  }
  return "";
}

/** fp32 and its int8 copy side by side (measured at the end of training), or why there is none. */
export function Compression({ model }: { model: ModelVersion }) {
  const int8 = model.metrics.int8;
  if (!int8) return null;
  if (int8.status === "compressing") {
    return (
      <Alert color="blue" variant="light" icon={<Loader size={16} />} data-testid="int8-compressing">
        <Text size="sm">
          Making the int8 copy of this version (smaller and faster, quantized on your training images): its accuracy,
          size and speed appear here within a minute.
        </Text>
      </Alert>
    );
  }
  if (int8.error) {
    return (
      <Alert color="yellow" variant="light" icon={<IconAlertTriangle size={16} />} data-testid="int8-error">
        <Text size="sm">
          No int8 copy of this version: {int8.error}. The fp32 model serves as usual.
        </Text>
      </Alert>
    );
  }
  const fp32 = int8.fp32 ?? {};
  return (
    <Card data-testid="compression">
      <Group justify="space-between" mb={4}>
        <Text fw={600}>fp32 and int8</Text>
        <Tooltip
          label={
            int8.evaluated_on === "train"
              ? "This project has no test images, so both are compared on the training images: the difference between them holds, the accuracies themselves are optimistic."
              : "The same test images as the version's own accuracy."
          }
        >
          <Badge variant="light" color="gray" data-testid="compression-images">
            on {formatNumber(int8.evaluated_images)}{" "}
            {int8.evaluated_on === "train" ? "training" : "held-out"} images
            {int8.agreement !== undefined && int8.agreement !== null
              ? ` · same label on ${formatPercent(int8.agreement)}`
              : ""}
          </Badge>
        </Tooltip>
      </Group>
      <Text size="xs" c="dimmed" mb="sm">
        The int8 copy is quantized on {formatNumber(int8.calibration_images)} of your training images. A deployment
        serves either one; choose on the Deploy page.
      </Text>
      <ScrollArea>
        <Table verticalSpacing="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th />
              <Table.Th>fp32</Table.Th>
              <Table.Th>int8</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {ROWS.map((row) => (
              <Table.Tr key={row.key} data-testid={`compression-${row.key}`}>
                <Table.Td>
                  <Tooltip label={row.hint}>
                    <Text size="sm" fw={500} span>
                      {row.name}
                    </Text>
                  </Tooltip>
                </Table.Td>
                <Table.Td data-testid="fp32">{row.show(fp32)}</Table.Td>
                <Table.Td data-testid="int8" fw={600}>
                  {row.show(int8)}
                </Table.Td>
                <Table.Td>
                  <Text size="xs" c="dimmed">
                    {gain(row.key, fp32, int8)}
                  </Text>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </ScrollArea>
    </Card>
  );
}
