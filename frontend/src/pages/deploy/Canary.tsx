import {
  Alert,
  Badge,
  Button,
  Card,
  Checkbox,
  Group,
  NumberInput,
  SegmentedControl,
  Select,
  Stack,
  Text,
} from "@mantine/core";
import { IconFlask } from "@tabler/icons-react";
import { useState } from "react";
import { Link } from "react-router";
import { useCandidatePromote, useCandidateStop } from "../../api/hooks";
import type { Deployment, ModelVersion } from "../../api/types";
import { formatDateTime, formatNumber, formatPercent } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { type RolloutMode, useRollout, useRolloutStart } from "./rollout";
import { ShadowRollout } from "./ShadowRollout";

/** How a new rollout is started: which version, canary or shadow, and its settings. */
function RolloutForm({ deployment, others, projectId }: { deployment: Deployment; others: ModelVersion[]; projectId: number }) {
  const [version, setVersion] = useState<string | null>(others[0] ? String(others[0].id) : null);
  const [mode, setMode] = useState<RolloutMode>("canary");
  const [percent, setPercent] = useState<number>(10);
  const [gated, setGated] = useState(false);
  const [minRequests, setMinRequests] = useState<number>(200);
  const [minAgreement, setMinAgreement] = useState<number>(95);
  const start = useRolloutStart(projectId, deployment.slug, {
    onSuccess: (c) =>
      c.mode === "shadow"
        ? notifySuccess(`Model v${c.model_version_number} runs beside the live version and answers nothing.`, "Shadow started")
        : notifySuccess(`Model v${c.model_version_number} answers ${c.percent}% of the requests.`, "Canary started"),
  });
  const submit = () => {
    if (!version) return;
    start.mutate(
      mode === "canary"
        ? { model_version: Number(version), mode, percent }
        : {
            model_version: Number(version),
            mode,
            gate_min_requests: gated ? minRequests : null,
            gate_min_agreement: minAgreement / 100,
          },
    );
  };
  return (
    <Stack gap="sm">
      <SegmentedControl
        value={mode}
        onChange={(v) => setMode(v as RolloutMode)}
        data={[
          { value: "canary", label: "Canary: answers a share of the requests" },
          { value: "shadow", label: "Shadow: runs beside, answers nothing" },
        ]}
        w="fit-content"
        data-testid="rollout-mode"
      />
      <Group align="flex-end" gap="sm">
        <Select
          label="Candidate"
          data={others.map((m) => ({ value: String(m.id), label: `v${m.number} · accuracy ${formatPercent(m.metrics.accuracy)}` }))}
          value={version}
          onChange={setVersion}
          allowDeselect={false}
          w={240}
          data-testid="canary-version"
        />
        {mode === "canary" ? (
          <NumberInput
            label="Share of requests"
            suffix="%"
            min={1}
            max={99}
            clampBehavior="strict"
            allowDecimal={false}
            value={percent}
            onChange={(v) => setPercent(typeof v === "number" ? v : 10)}
            w={150}
            data-testid="canary-percent"
          />
        ) : (
          <>
            <Checkbox
              label="Promote by itself when the gate passes"
              checked={gated}
              onChange={(e) => setGated(e.currentTarget.checked)}
              mb={8}
              data-testid="gate-enabled"
            />
            <NumberInput
              label="after requests"
              min={1}
              allowDecimal={false}
              value={minRequests}
              disabled={!gated}
              onChange={(v) => setMinRequests(typeof v === "number" ? v : 200)}
              w={130}
              data-testid="gate-min-requests"
            />
            <NumberInput
              label="agreement at least"
              suffix="%"
              min={0}
              max={100}
              clampBehavior="strict"
              value={minAgreement}
              disabled={!gated}
              onChange={(v) => setMinAgreement(typeof v === "number" ? v : 95)}
              w={150}
              data-testid="gate-min-agreement"
            />
          </>
        )}
        <Button variant="light" disabled={!version} loading={start.isPending} onClick={submit} data-testid="canary-start">
          Start {mode}
        </Button>
      </Group>
      {mode === "shadow" && (
        <Text size="xs" c="dimmed">
          The live version keeps answering every request; the candidate runs on the same images off the request path, and the
          requests where they disagree show up here to be labeled. The gate also needs the model diff to show no label whose
          recall falls.
        </Text>
      )}
    </Stack>
  );
}

/**
 * A rollout of a candidate version beside the live one: a canary answers a share of the
 * requests; a shadow runs on every request and answers none. Its state, and promote or
 * abort, while one is under way; the gate's last automatic promotion otherwise.
 */
export function Canary({ deployment, models, projectId }: { deployment: Deployment; models: ModelVersion[]; projectId: number }) {
  const live = deployment.model_version;
  const candidate = deployment.candidate;
  const others = models.filter((m) => m.id !== live.id);
  const detail = useRollout(projectId, deployment.slug, candidate !== null && candidate !== undefined);
  const stop = useCandidateStop(projectId, deployment.slug, {
    onSuccess: () => notifySuccess(`Every request is answered by v${live.number} alone again.`, "Rollout stopped"),
  });
  const promote = useCandidatePromote(projectId, deployment.slug, {
    onSuccess: (d) => notifySuccess(`Model v${d.model_version.number} now answers every request.`, "Promoted"),
  });
  const lastGate = deployment.last_gate;
  const shadow = candidate?.mode === "shadow";
  const candidateLabels = models.find((m) => m.id === candidate?.model_version)?.labels ?? [];
  const actions = candidate ? (
    <Group gap="xs">
      <Button loading={promote.isPending} onClick={() => promote.mutate()} data-testid="canary-promote">
        Promote v{candidate.model_version_number}
      </Button>
      <Button variant="default" loading={stop.isPending} onClick={() => stop.mutate()} data-testid="canary-stop">
        Abort the {candidate.mode}
      </Button>
      <Button
        variant="subtle"
        component={Link}
        to={`/projects/${projectId}/compare?a=${live.id}&b=${candidate.model_version}`}
        data-testid="canary-compare"
      >
        Compare v{live.number} and v{candidate.model_version_number}
      </Button>
    </Group>
  ) : null;

  return (
    <Card data-testid="canary" data-state={candidate ? "running" : "idle"} data-mode={candidate?.mode ?? ""}>
      <Group gap="xs" mb="xs">
        <IconFlask size={18} />
        <Text fw={600}>Rollout</Text>
        {candidate && <Badge variant="light">{candidate.mode}</Badge>}
      </Group>
      {candidate ? (
        <Stack gap="sm">
          {shadow ? (
            detail.data && detail.data.mode === "shadow" ? (
              <ShadowRollout
                deployment={deployment}
                state={detail.data}
                projectId={projectId}
                candidateLabels={candidateLabels}
                actions={actions}
              />
            ) : (
              <>
                <Text size="sm" c="dimmed">
                  Loading the shadow's state…
                </Text>
                {actions}
              </>
            )
          ) : (
            <Alert variant="light" color="grape" data-testid="canary-state" data-version={candidate.model_version_number} data-percent={candidate.percent}>
              <Group gap="xs">
                <Badge color="grape">
                  v{candidate.model_version_number} · {candidate.percent}%
                </Badge>
                <Text size="sm">
                  Model v{candidate.model_version_number} answers {candidate.percent}% of the requests, v{live.number} the rest,
                  since {formatDateTime(candidate.since)}. Each answer names the version that gave it.
                </Text>
              </Group>
              <Text size="sm" mt={6} data-testid="canary-counts">
                Predictions since: {formatNumber(candidate.predictions.candidate)} by v{candidate.model_version_number},{" "}
                {formatNumber(candidate.predictions.live)} by v{live.number}
                {candidate.predictions.candidate + candidate.predictions.live > 0 &&
                  ` (${formatPercent(candidate.predictions.candidate / (candidate.predictions.candidate + candidate.predictions.live), 0)} by the candidate)`}
                .
              </Text>
            </Alert>
          )}
          {!shadow && actions}
        </Stack>
      ) : others.length === 0 ? (
        <Text size="sm" c="dimmed">
          Train another version to try it beside the live one before it answers every request.
        </Text>
      ) : (
        <Stack gap="sm">
          {lastGate && (
            <Alert variant="light" color="teal" data-testid="last-gate" title={`The gate promoted v${lastGate.promoted_version_number ?? "?"}`}>
              <Text size="sm">{lastGate.evaluated_at ? `On ${formatDateTime(lastGate.evaluated_at)}, because:` : "Because:"}</Text>
              {lastGate.reasons.map((reason) => (
                <Text size="xs" key={reason}>
                  · {reason}
                </Text>
              ))}
            </Alert>
          )}
          <RolloutForm deployment={deployment} others={others} projectId={projectId} />
        </Stack>
      )}
    </Card>
  );
}
