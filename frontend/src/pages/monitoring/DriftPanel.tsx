/** The drift side of the Monitoring page: the status card (with the shifted window's
 * images when alerting), the alert list with acknowledge, and the thresholds form. */
import {
  Alert,
  Badge,
  Button,
  Card,
  Group,
  Image,
  NumberInput,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconCheck, IconRefresh } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { formatDateTime, formatPercent } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { STATUS_COLOR, driftSentence, formatP, thresholdError } from "./figures";
import {
  useDriftAlertAcknowledge,
  useDriftAlerts,
  useDriftCheck,
  useMonitoringSettings,
  useMonitoringSettingsUpdate,
  type DriftState,
} from "./hooks";

const TEST_NAMES: Record<string, string> = {
  combined: "Embeddings",
  mean_shift: "Embeddings (mean shift)",
  residual: "Embeddings (outside the training span)",
  mmd: "Embeddings (MMD)",
  ks: "Embeddings (KS)",
  confidence: "Confidence",
  label_mix: "Label mix",
};

export function DriftCard({ slug, drift }: { slug: string; drift: DriftState }) {
  const check = useDriftCheck(slug, { onSuccess: () => notifySuccess("Drift checked.") });
  const acknowledge = useDriftAlertAcknowledge(slug, { onSuccess: () => notifySuccess("Alert acknowledged.") });
  return (
    <Card data-testid="drift-card">
      <Stack gap="sm">
        <Group justify="space-between">
          <Group gap="xs">
            <Title order={3} size="h5">
              Drift
            </Title>
            {/* Before the first check "ok" would claim what nothing has tested yet. */}
            <Badge color={drift.checked_at ? STATUS_COLOR[drift.status] : "gray"} data-testid="drift-status">
              {drift.checked_at ? drift.status : "not checked"}
            </Badge>
          </Group>
          <Group gap="xs">
            {drift.alert != null && (
              <Button
                size="xs"
                variant="light"
                leftSection={<IconCheck size={14} />}
                loading={acknowledge.isPending}
                onClick={() => acknowledge.mutate(drift.alert as number)}
              >
                Acknowledge
              </Button>
            )}
            <Button size="xs" variant="subtle" leftSection={<IconRefresh size={14} />} loading={check.isPending} onClick={() => check.mutate()}>
              Check now
            </Button>
          </Group>
        </Group>
        <Text size="sm">{driftSentence(drift)}</Text>
        {drift.checked_at && (
          <Text size="xs" c="dimmed">
            Score {drift.score == null ? "–" : drift.score.toFixed(2)} · p-value {drift.p_value == null ? "–" : formatP(drift.p_value)} ·
            window of {drift.window} since {formatDateTime(drift.since)} · checked {formatDateTime(drift.checked_at)}
          </Text>
        )}
        {drift.tests.length > 0 && (
          <Group gap="xs">
            {drift.tests.map((test) => (
              <Tooltip key={test.name} label={`score ${test.score.toFixed(3)} on ${test.n} predictions`}>
                <Badge variant="outline" color={test.p_value < 0.01 ? "red" : "gray"}>
                  {TEST_NAMES[test.name] ?? test.name}: p {formatP(test.p_value)}
                </Badge>
              </Tooltip>
            ))}
          </Group>
        )}
        {drift.samples.length > 0 && (
          <>
            <Text size="sm" fw={600}>
              Images of the shifted window (farthest from the training images)
            </Text>
            <SimpleGrid cols={{ base: 4, sm: 8 }} spacing="xs" data-testid="drift-samples">
              {drift.samples.map((sample) => (
                <Tooltip key={sample.id} label={`${sample.label} (${formatPercent(sample.confidence)}) · ${formatDateTime(sample.created_at)}`}>
                  <Image src={sample.image_url ?? undefined} alt={sample.label} h={72} fit="cover" radius="sm" />
                </Tooltip>
              ))}
            </SimpleGrid>
          </>
        )}
      </Stack>
    </Card>
  );
}

export function AlertList({ slug }: { slug: string }) {
  const alerts = useDriftAlerts(slug);
  const acknowledge = useDriftAlertAcknowledge(slug, { onSuccess: () => notifySuccess("Alert acknowledged.") });
  const rows = alerts.data ?? [];
  return (
    <Card>
      <Stack gap="sm">
        <Title order={3} size="h5">
          Alerts
        </Title>
        {rows.length === 0 ? (
          <Text size="sm" c="dimmed">
            No drift alerts yet.
          </Text>
        ) : (
          <Table data-testid="drift-alerts">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Raised</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>p-value</Table.Th>
                <Table.Th>Window</Table.Th>
                <Table.Th>Model</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((alert) => (
                <Table.Tr key={alert.id}>
                  <Table.Td>{formatDateTime(alert.created_at)}</Table.Td>
                  <Table.Td>
                    <Badge color={STATUS_COLOR[alert.status]}>{alert.status}</Badge>
                  </Table.Td>
                  <Table.Td>{formatP(alert.p_value)}</Table.Td>
                  <Table.Td>
                    {alert.window} since {formatDateTime(alert.since)}
                  </Table.Td>
                  <Table.Td>{alert.model_version_number != null ? `v${alert.model_version_number}` : "–"}</Table.Td>
                  <Table.Td>
                    {alert.acknowledged ? (
                      <Text size="xs" c="dimmed">
                        Acknowledged {formatDateTime(alert.acknowledged_at)}
                      </Text>
                    ) : (
                      <Button size="xs" variant="light" loading={acknowledge.isPending} onClick={() => acknowledge.mutate(alert.id)}>
                        Acknowledge
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}

export function ThresholdForm({ slug }: { slug: string }) {
  const settings = useMonitoringSettings(slug);
  const [values, setValues] = useState({ enabled: true, alert_p: 0.01, warning_p: 0.05, window: 400 });
  useEffect(() => {
    if (settings.data) setValues(settings.data);
  }, [settings.data]);
  const update = useMonitoringSettingsUpdate(slug, { inlineError: true, onSuccess: () => notifySuccess("Thresholds saved.") });
  const problem = thresholdError(values);
  return (
    <Card>
      <Stack gap="sm">
        <Title order={3} size="h5">
          Thresholds
        </Title>
        <Text size="xs" c="dimmed">
          A drift p-value under the alert threshold opens an alert and sends the drift.alert webhook event; under the
          warning threshold it is shown here only. Smaller values mean fewer false alarms and later alerts.
        </Text>
        <Switch
          label="Check this deployment for drift"
          checked={values.enabled}
          onChange={(event) => setValues({ ...values, enabled: event.currentTarget.checked })}
        />
        <Group grow align="flex-start">
          <NumberInput
            label="Alert under p ="
            value={values.alert_p}
            min={0}
            max={1}
            step={0.001}
            decimalScale={6}
            onChange={(value) => setValues({ ...values, alert_p: Number(value) })}
          />
          <NumberInput
            label="Warn under p ="
            value={values.warning_p}
            min={0}
            max={1}
            step={0.01}
            decimalScale={6}
            onChange={(value) => setValues({ ...values, warning_p: Number(value) })}
          />
          <NumberInput
            label="Window (predictions)"
            value={values.window}
            min={100}
            max={5000}
            step={50}
            onChange={(value) => setValues({ ...values, window: Number(value) })}
          />
        </Group>
        {(problem || update.error) && (
          <Alert color="red" variant="light">
            {problem ?? (update.error as Error).message}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button size="xs" disabled={problem != null} loading={update.isPending} onClick={() => update.mutate(values)}>
            Save thresholds
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}
