/**
 * The project's retraining policy (Settings page): when to retrain (new labels, a drift
 * alert, a schedule), in which mode, and the shadow gate the new model must pass before it
 * replaces a live one; what the policy last did; "Retrain now".
 */
import { Alert, Button, Card, Checkbox, Group, NumberInput, SegmentedControl, Stack, Switch, Text, Title } from "@mantine/core";
import { IconRefresh } from "@tabler/icons-react";
import { useEffect, useState, type FormEvent } from "react";
import { errorMessage, fieldError } from "../../api/client";
import { ErrorState } from "../../components/States";
import { formatDateTime, formatRelative } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { policySummary, useRetrainNow, useRetrainPolicy, useRetrainPolicyUpdate, type RetrainPolicy, type RetrainPolicyInput } from "./hooks";

type Mode = NonNullable<RetrainPolicyInput["mode"]>;

interface Draft {
  enabled: boolean;
  new_labels: number | null;
  on_drift: boolean;
  every_hours: number | null;
  mode: Mode;
  gate_min_requests: number | null;
}

function draftOf(policy: RetrainPolicy): Draft {
  const mode = (policy.mode === "quick" ? "fast" : policy.mode) as Mode;
  return {
    enabled: policy.enabled,
    new_labels: policy.new_labels ?? null,
    on_drift: policy.on_drift,
    every_hours: policy.every_hours ?? null,
    mode,
    gate_min_requests: policy.gate_min_requests ?? null,
  };
}

const numberOrNull = (value: string | number): number | null => (typeof value === "number" && value > 0 ? value : null);

function PolicyStatus({ policy }: { policy: RetrainPolicy }) {
  const status = policy.status;
  return (
    <Stack gap={4} data-testid="retrain-status">
      <Text size="sm">
        {status.labels_since_last_model} label{status.labels_since_last_model === 1 ? "" : "s"} since{" "}
        {status.last_model ? `model v${status.last_model.number} (${formatRelative(status.last_model.created_at)})` : "the start (no model yet)"}
        {policy.new_labels ? ` — retrains at ${policy.new_labels}` : ""}.
      </Text>
      {status.next_scheduled_at && <Text size="sm">Next scheduled retraining: {formatDateTime(status.next_scheduled_at)}.</Text>}
      {status.last_triggered_at && (
        <Text size="sm">
          Last retraining {formatRelative(status.last_triggered_at)}: {status.last_reason}
          {status.last_job ? ` (job ${status.last_job.id}, ${status.last_job.status})` : ""}.
        </Text>
      )}
      {status.last_outcome && (
        <Text size="sm" c="dimmed" data-testid="retrain-outcome">
          {status.last_outcome}
        </Text>
      )}
    </Stack>
  );
}

export function RetrainingSection({ projectId }: { projectId: number }) {
  const policy = useRetrainPolicy(projectId);
  const [draft, setDraft] = useState<Draft | null>(null);
  const update = useRetrainPolicyUpdate(projectId, { onSuccess: () => notifySuccess("Retraining policy saved") });
  const retrain = useRetrainNow(projectId, { onSuccess: () => notifySuccess("Retraining started") });

  useEffect(() => {
    if (policy.data) setDraft(draftOf(policy.data));
  }, [policy.data]);

  if (policy.isError) return <ErrorState error={policy.error} onRetry={() => policy.refetch()} />;
  if (!policy.data || !draft) return null;

  const set = (patch: Partial<Draft>) => setDraft({ ...draft, ...patch });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    update.mutate(draft);
  };
  const formError = update.error && !fieldError(update.error, "new_labels") ? errorMessage(update.error) : null;

  return (
    <Card withBorder padding="lg" radius="md" mt="md" component="section" aria-labelledby="retraining-title" data-testid="retraining-section">
      <Stack gap="sm">
        <Title order={2} size="h4" id="retraining-title">
          Retraining
        </Title>
        <Text size="sm" c="dimmed" data-testid="retrain-summary">
          {policySummary(policy.data)}
        </Text>
        <form onSubmit={submit}>
          <Stack gap="sm">
            <Switch label="Retrain automatically" data-testid="retrain-enabled" checked={draft.enabled} onChange={(e) => set({ enabled: e.currentTarget.checked })} />
            <Group grow align="flex-start">
              <NumberInput
                label="After this many new labels"
                data-testid="retrain-new-labels"
                description="Empty: not for this reason"
                min={1}
                allowDecimal={false}
                value={draft.new_labels ?? ""}
                onChange={(v) => set({ new_labels: numberOrNull(v) })}
                error={fieldError(update.error, "new_labels")}
              />
              <NumberInput
                label="Every … hours"
                description="Empty: no schedule"
                min={1}
                allowDecimal={false}
                value={draft.every_hours ?? ""}
                onChange={(v) => set({ every_hours: numberOrNull(v) })}
              />
            </Group>
            <Checkbox label="When a deployment raises a drift alert" checked={draft.on_drift} onChange={(e) => set({ on_drift: e.currentTarget.checked })} />
            <div>
              <Text size="sm" fw={500} mb={4}>
                Training mode
              </Text>
              <SegmentedControl
                value={draft.mode}
                onChange={(v) => set({ mode: v as Mode })}
                data={[
                  { value: "fast", label: "Fast" },
                  { value: "accurate", label: "Accurate" },
                  { value: "finetune", label: "Fine-tune" },
                ]}
              />
            </div>
            <NumberInput
              label="Promote the new model automatically after this many requests"
              description="It runs in shadow beside each deployment's live model; the gate promotes it only if it is no worse. Empty: promote by hand on the Deploy page."
              min={1}
              allowDecimal={false}
              value={draft.gate_min_requests ?? ""}
              onChange={(v) => set({ gate_min_requests: numberOrNull(v) })}
            />
            {formError && (
              <Alert color="red" variant="light">
                {formError}
              </Alert>
            )}
            <Group justify="space-between">
              <Button
                variant="default"
                leftSection={<IconRefresh size={16} />}
                loading={retrain.isPending}
                onClick={() => retrain.mutate()}
                data-testid="retrain-now"
                title="Train a model now with this policy's mode; it becomes a shadow candidate"
              >
                Retrain now
              </Button>
              <Button type="submit" loading={update.isPending} data-testid="retrain-save">
                Save policy
              </Button>
            </Group>
            {retrain.error && (
              <Alert color="orange" variant="light" data-testid="retrain-error">
                {errorMessage(retrain.error)}
              </Alert>
            )}
          </Stack>
        </form>
        <PolicyStatus policy={policy.data} />
      </Stack>
    </Card>
  );
}
