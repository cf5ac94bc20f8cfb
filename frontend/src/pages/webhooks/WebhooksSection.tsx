/**
 * The project's webhooks (Settings page): add, edit, pause, delete; the signing secret shown
 * once with a copy button; a test event; the recent deliveries with the receiver's answers.
 */
import {
  ActionIcon,
  Badge,
  Button,
  Card,
  Checkbox,
  Code,
  Collapse,
  CopyButton,
  Group,
  Modal,
  SegmentedControl,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconCheck, IconCopy, IconPencil, IconSend, IconTrash } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { errorMessage, fieldError } from "../../api/client";
import { ErrorState } from "../../components/States";
import { notifySuccess } from "../../lib/notify";
import {
  WEBHOOK_EVENTS,
  useWebhookCreate,
  useWebhookDelete,
  useWebhookDeliveries,
  useWebhookTest,
  useWebhookUpdate,
  useWebhooks,
  type Webhook,
  type WebhookCreated,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookKind,
} from "./hooks";

const STATUS_COLOR: Record<string, string> = { succeeded: "teal", failed: "red", queued: "gray", running: "blue", cancelled: "gray" };

interface FormValues {
  url: string;
  kind: WebhookKind;
  events: WebhookEvent[];
}

function WebhookForm({
  initial,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  initial: FormValues;
  submitLabel: string;
  pending: boolean;
  error: unknown;
  onSubmit: (values: FormValues) => void;
  onCancel: () => void;
}) {
  const [url, setUrl] = useState(initial.url);
  const [kind, setKind] = useState<WebhookKind>(initial.kind);
  const [events, setEvents] = useState<WebhookEvent[]>(initial.events);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit({ url: url.trim(), kind, events });
  };
  const otherError = error && !fieldError(error, "url") && !fieldError(error, "events") ? errorMessage(error) : undefined;
  return (
    <form onSubmit={submit}>
      <Stack gap="sm">
        <TextInput
          label="Receiver URL"
          placeholder="https://example.com/bakehouse-events"
          required
          value={url}
          onChange={(e) => setUrl(e.currentTarget.value)}
          error={fieldError(error, "url")}
          data-testid="webhook-url"
          data-autofocus
        />
        <div>
          <Text size="sm" fw={500} mb={4}>
            Format
          </Text>
          <SegmentedControl
            value={kind}
            onChange={(v) => setKind(v as WebhookKind)}
            data={[
              { value: "generic", label: "Signed JSON" },
              { value: "slack", label: "Slack" },
            ]}
          />
        </div>
        <Checkbox.Group label="Events" value={events} onChange={(v) => setEvents(v as WebhookEvent[])} error={fieldError(error, "events")}>
          <Stack gap={6} mt={6}>
            {WEBHOOK_EVENTS.map((event) => (
              <Checkbox key={event.value} value={event.value} label={`${event.label} (${event.value})`} data-testid={`webhook-event-${event.value}`} />
            ))}
          </Stack>
        </Checkbox.Group>
        {otherError && (
          <Text size="sm" c="red">
            {otherError}
          </Text>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={pending} disabled={!url.trim() || events.length === 0} data-testid="webhook-save">
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function SecretModal({ created, onClose }: { created: WebhookCreated | null; onClose: () => void }) {
  return (
    <Modal opened={created !== null} onClose={onClose} title={<Text fw={700}>Webhook added: copy its secret now</Text>} centered>
      <Stack gap="sm">
        <Text size="sm">
          Bakehouse signs every delivery with this secret (header <Code>X-Bakehouse-Signature</Code>: HMAC-SHA256 of
          <Code>timestamp.body</Code>). It is shown only this once.
        </Text>
        <Group gap="xs" wrap="nowrap">
          <Code block style={{ flex: 1, wordBreak: "break-all" }} data-testid="webhook-secret">
            {created?.secret}
          </Code>
          <CopyButton value={created?.secret ?? ""}>
            {({ copied, copy }) => (
              <Tooltip label={copied ? "Copied" : "Copy"}>
                <ActionIcon variant="light" onClick={copy} aria-label="Copy the secret" data-testid="webhook-secret-copy">
                  {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
                </ActionIcon>
              </Tooltip>
            )}
          </CopyButton>
        </Group>
        <Group justify="flex-end">
          <Button onClick={onClose}>I have copied it</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function DeliveryRow({ delivery }: { delivery: WebhookDelivery }) {
  const tries = delivery.tries ?? [];
  return (
    <Table.Tr data-testid="webhook-delivery">
      <Table.Td>
        <Text size="xs">{new Date(delivery.created_at).toLocaleString()}</Text>
      </Table.Td>
      <Table.Td>
        <Code>{delivery.event_type}</Code>
      </Table.Td>
      <Table.Td>
        <Badge color={STATUS_COLOR[delivery.status] ?? "gray"} variant="light">
          {delivery.status}
        </Badge>
      </Table.Td>
      <Table.Td>
        <Group gap={4}>
          {tries.map((t) => (
            <Tooltip key={t.attempt} label={t.error || `${Math.round(t.duration_ms)} ms`}>
              <Badge size="sm" variant="outline" color={t.status_code && t.status_code < 300 ? "teal" : "red"} data-testid="webhook-try-code">
                {t.status_code ?? "no answer"}
              </Badge>
            </Tooltip>
          ))}
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

function Deliveries({ projectId, webhookId, opened }: { projectId: number; webhookId: number; opened: boolean }) {
  const deliveries = useWebhookDeliveries(projectId, webhookId, opened);
  if (deliveries.isError) return <ErrorState error={deliveries.error} onRetry={() => deliveries.refetch()} />;
  const rows = deliveries.data ?? [];
  if (!rows.length)
    return (
      <Text size="sm" c="dimmed">
        Nothing sent yet. Send a test event to try the receiver.
      </Text>
    );
  return (
    <Table verticalSpacing={4} fz="sm">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>When</Table.Th>
          <Table.Th>Event</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th>Answers (each try)</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {rows.map((d) => (
          <DeliveryRow key={d.id} delivery={d} />
        ))}
      </Table.Tbody>
    </Table>
  );
}

function WebhookItem({ projectId, webhook }: { projectId: number; webhook: Webhook }) {
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [showLog, setShowLog] = useState(false);
  const update = useWebhookUpdate(projectId, webhook.id, { inlineError: true, onSuccess: () => setEditing(false) });
  const toggle = useWebhookUpdate(projectId, webhook.id);
  const remove = useWebhookDelete(projectId, webhook.id, { onSuccess: () => notifySuccess("Webhook deleted.") });
  const test = useWebhookTest(projectId, webhook.id, {
    onSuccess: () => {
      setShowLog(true);
      notifySuccess("Test event sent; its delivery is in the log below.");
    },
  });
  return (
    <Card withBorder padding="sm" data-testid="webhook-item">
      <Group justify="space-between" wrap="nowrap" align="flex-start">
        <Stack gap={4} style={{ minWidth: 0 }}>
          <Text size="sm" fw={600} style={{ wordBreak: "break-all" }} data-testid="webhook-item-url">
            {webhook.url}
          </Text>
          <Group gap={4}>
            <Badge variant="light">{webhook.kind === "slack" ? "Slack" : "Signed JSON"}</Badge>
            {webhook.events.map((e) => (
              <Badge key={e} variant="outline" color="gray" size="sm">
                {e}
              </Badge>
            ))}
          </Group>
        </Stack>
        <Group gap={4} wrap="nowrap">
          <Switch
            checked={webhook.active}
            onChange={(e) => toggle.mutate({ active: e.currentTarget.checked })}
            aria-label="Active"
            label="Active"
            size="xs"
          />
          <Tooltip label="Send a test event">
            <ActionIcon variant="light" loading={test.isPending} onClick={() => test.mutate()} aria-label="Send a test event" data-testid="webhook-test">
              <IconSend size={16} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Edit">
            <ActionIcon variant="subtle" onClick={() => setEditing(true)} aria-label="Edit webhook">
              <IconPencil size={16} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Delete">
            <ActionIcon variant="subtle" color="red" onClick={() => setConfirm(true)} aria-label="Delete webhook">
              <IconTrash size={16} />
            </ActionIcon>
          </Tooltip>
        </Group>
      </Group>
      <Button variant="subtle" size="compact-xs" mt={6} onClick={() => setShowLog((v) => !v)} data-testid="webhook-log-toggle">
        {showLog ? "Hide recent deliveries" : "Recent deliveries"}
      </Button>
      <Collapse in={showLog}>{showLog && <Deliveries projectId={projectId} webhookId={webhook.id} opened={showLog} />}</Collapse>
      <Modal opened={editing} onClose={() => setEditing(false)} title={<Text fw={700}>Edit webhook</Text>} centered>
        <WebhookForm
          initial={{ url: webhook.url, kind: webhook.kind, events: webhook.events }}
          submitLabel="Save"
          pending={update.isPending}
          error={update.error}
          onSubmit={(values) => update.mutate(values)}
          onCancel={() => setEditing(false)}
        />
      </Modal>
      <Modal opened={confirm} onClose={() => setConfirm(false)} title={<Text fw={700}>Delete this webhook?</Text>} centered>
        <Text size="sm">Its receiver gets no more events, and its delivery log goes too.</Text>
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={() => setConfirm(false)}>
            Cancel
          </Button>
          <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()} data-testid="webhook-confirm-delete">
            Delete webhook
          </Button>
        </Group>
      </Modal>
    </Card>
  );
}

export function WebhooksSection({ projectId }: { projectId: number }) {
  const webhooks = useWebhooks(projectId);
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<WebhookCreated | null>(null);
  const create = useWebhookCreate(projectId, {
    inlineError: true,
    onSuccess: (webhook) => {
      setAdding(false);
      setCreated(webhook);
    },
  });
  return (
    <Card mt="lg" data-testid="webhooks-section">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4">
          Webhooks
        </Title>
        <Button size="xs" onClick={() => setAdding(true)} data-testid="webhook-add">
          Add webhook
        </Button>
      </Group>
      <Text size="sm" c="dimmed" mb="sm">
        Bakehouse POSTs an event to your address when training ends or a deployment changes model, signed and retried until it
        is answered with a 2xx.
      </Text>
      {webhooks.isError ? (
        <ErrorState error={webhooks.error} onRetry={() => webhooks.refetch()} />
      ) : (
        <Stack gap="sm">
          {(webhooks.data ?? []).map((webhook) => (
            <WebhookItem key={webhook.id} projectId={projectId} webhook={webhook} />
          ))}
          {webhooks.data?.length === 0 && (
            <Text size="sm" c="dimmed">
              No webhooks yet.
            </Text>
          )}
        </Stack>
      )}
      <Modal opened={adding} onClose={() => setAdding(false)} title={<Text fw={700}>Add a webhook</Text>} centered size="lg">
        <WebhookForm
          initial={{ url: "", kind: "generic", events: ["training.succeeded", "training.failed", "deployment.changed"] }}
          submitLabel="Add webhook"
          pending={create.isPending}
          error={create.error}
          onSubmit={(values) => create.mutate(values)}
          onCancel={() => setAdding(false)}
        />
      </Modal>
      <SecretModal created={created} onClose={() => setCreated(null)} />
    </Card>
  );
}
