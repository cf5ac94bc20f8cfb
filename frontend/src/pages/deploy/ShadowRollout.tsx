import { Alert, Badge, Button, Card, Group, Image, List, Select, SimpleGrid, Stack, Text } from "@mantine/core";
import { IconCheck } from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import type { Deployment } from "../../api/types";
import { formatDateTime, formatNumber, formatPercent } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { agreementText, gateBadge, settleLabels, useSettle, type Disagreement, type RolloutState } from "./rollout";

/** One disagreement: the image, both answers, and the label picker that settles it. */
function DisagreementCard({
  row,
  labels,
  slug,
  projectId,
  canSettle,
}: {
  row: Disagreement;
  labels: string[];
  slug: string;
  projectId: number;
  canSettle: boolean;
}) {
  const [label, setLabel] = useState<string | null>(row.candidate.label);
  const settle = useSettle(projectId, slug, {
    onSuccess: (answer) =>
      notifySuccess(
        `Added to the data set as “${answer.disagreement.settled_label}”${answer.created ? "" : " (it was there already)"}.`,
        "Settled",
      ),
  });
  return (
    <Card withBorder p="xs" data-testid="disagreement" data-id={row.id} data-settled={row.settled_label ?? ""}>
      {row.image_url ? (
        <Image src={row.image_url} h={120} fit="contain" alt="The image sent" />
      ) : (
        <Text size="xs" c="dimmed" h={120}>
          Image not stored.
        </Text>
      )}
      <Text size="xs" mt={4}>
        Live: <b>{row.live.label}</b> ({formatPercent(row.live.confidence, 0)})
      </Text>
      <Text size="xs">
        Candidate: <b>{row.candidate.label}</b> ({formatPercent(row.candidate.confidence, 0)})
      </Text>
      <Text size="xs" c="dimmed">
        {formatDateTime(row.created_at)}
      </Text>
      {row.settled_label ? (
        <Badge mt={4} color="teal" leftSection={<IconCheck size={12} />} data-testid="disagreement-settled">
          {row.settled_label}
        </Badge>
      ) : (
        <Stack gap={4} mt={4}>
          <Select
            size="xs"
            data={labels}
            value={label}
            onChange={setLabel}
            allowDeselect={false}
            disabled={!canSettle}
            aria-label="The true label"
            data-testid="disagreement-label"
          />
          <Button
            size="compact-xs"
            disabled={!label || !canSettle}
            loading={settle.isPending}
            onClick={() => label && settle.mutate({ id: row.id, label })}
            data-testid="disagreement-settle"
          >
            Settle
          </Button>
        </Stack>
      )}
    </Card>
  );
}

/** A shadow under way: counts, agreement, dropped, the gate, and the disagreement gallery. */
export function ShadowRollout({
  deployment,
  state,
  projectId,
  candidateLabels,
  actions,
}: {
  deployment: Deployment;
  state: RolloutState;
  projectId: number;
  candidateLabels: readonly string[];
  /** Promote / abort, shown above the gallery. */
  actions: ReactNode;
}) {
  const live = deployment.model_version;
  const gate = state.gate;
  const badge = gate ? gateBadge(gate) : null;
  const settled = state.settled;
  const labels = settleLabels(live.labels, candidateLabels);
  const rows = state.disagreements ?? [];
  return (
    <Stack gap="sm" data-testid="shadow-state" data-requests={state.requests} data-agreement={state.agreement ?? ""}>
      <Alert variant="light" color="indigo">
        <Group gap="xs">
          <Badge color="indigo">shadow · v{state.model_version_number}</Badge>
          <Text size="sm">
            Model v{live.number} answers every request; v{state.model_version_number} runs on the same images beside it,
            since {formatDateTime(state.since)}, and answers none.
          </Text>
        </Group>
        <Text size="sm" mt={6} data-testid="shadow-counts">
          {agreementText(state.requests, state.agreement)} Disagreements: {formatNumber(state.disagreements_count ?? 0)}
          {settled &&
            ` (settled: v${state.model_version_number} right ${settled.candidate_right}, v${live.number} right ${settled.live_right}, neither ${settled.neither_right}).`}
        </Text>
        <Text size="xs" c="dimmed" mt={4} data-testid="shadow-dropped">
          Skipped while the shadow was busy: {formatNumber(state.dropped ?? 0)} request{state.dropped === 1 ? "" : "s"}.
        </Text>
      </Alert>
      {gate && badge && (
        <Card withBorder p="sm" data-testid="shadow-gate" data-state={gate.state}>
          <Group gap="xs" mb={4}>
            <Text size="sm" fw={600}>
              Promotion gate
            </Text>
            <Badge color={badge.color}>{badge.text}</Badge>
            {gate.enabled && (
              <Text size="xs" c="dimmed">
                after {formatNumber(gate.min_requests ?? 0)} requests, agreement ≥ {formatPercent(gate.min_agreement, 0)} or
                settled disagreements favouring the candidate, and no label's recall falling.
              </Text>
            )}
          </Group>
          <List size="xs" spacing={2}>
            {gate.reasons.map((reason) => (
              <List.Item key={reason}>{reason}</List.Item>
            ))}
          </List>
        </Card>
      )}
      {actions}
      <Text size="sm" fw={600}>
        Disagreements {rows.length > 0 && `(latest ${rows.length}, unsettled first)`}
      </Text>
      {!deployment.store_images && (
        <Alert color="yellow" variant="light" data-testid="shadow-no-images">
          This deployment does not keep the images it is sent, so disagreements cannot be labeled into the data set. Turn on
          “Keep the images sent for prediction” above.
        </Alert>
      )}
      {rows.length === 0 ? (
        <Text size="sm" c="dimmed" data-testid="shadow-no-disagreements">
          No disagreement yet.
        </Text>
      ) : (
        <SimpleGrid cols={{ base: 2, sm: 3, md: 4, lg: 6 }} spacing="xs" data-testid="shadow-gallery">
          {rows.map((row) => (
            <DisagreementCard
              key={row.id}
              row={row}
              labels={labels}
              slug={deployment.slug}
              projectId={projectId}
              canSettle={deployment.store_images}
            />
          ))}
        </SimpleGrid>
      )}
    </Stack>
  );
}
