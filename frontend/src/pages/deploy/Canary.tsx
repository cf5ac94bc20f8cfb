import { Alert, Badge, Button, Card, Group, NumberInput, Select, Stack, Text } from "@mantine/core";
import { IconFlask } from "@tabler/icons-react";
import { useState } from "react";
import { Link } from "react-router";
import { useCandidatePromote, useCandidateSet, useCandidateStop } from "../../api/hooks";
import type { Deployment, ModelVersion } from "../../api/types";
import { formatDateTime, formatNumber, formatPercent } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";

/**
 * A canary rollout: a candidate version answers a share of the requests while the live one
 * answers the rest; its state, and promote or stop, when one is under way.
 */
export function Canary({ deployment, models, projectId }: { deployment: Deployment; models: ModelVersion[]; projectId: number }) {
  const live = deployment.model_version;
  const candidate = deployment.candidate;
  const others = models.filter((m) => m.id !== live.id);
  const [version, setVersion] = useState<string | null>(others[0] ? String(others[0].id) : null);
  const [percent, setPercent] = useState<number>(10);
  const start = useCandidateSet(projectId, deployment.slug, {
    onSuccess: (c) => notifySuccess(`Model v${c.model_version_number} answers ${c.percent}% of the requests.`, "Canary started"),
  });
  const stop = useCandidateStop(projectId, deployment.slug, {
    onSuccess: () => notifySuccess(`Every request is answered by v${live.number} again.`, "Canary stopped"),
  });
  const promote = useCandidatePromote(projectId, deployment.slug, {
    onSuccess: (d) => notifySuccess(`Model v${d.model_version.number} now answers every request.`, "Promoted"),
  });

  return (
    <Card data-testid="canary" data-state={candidate ? "running" : "idle"}>
      <Group gap="xs" mb="xs">
        <IconFlask size={18} />
        <Text fw={600}>Canary rollout</Text>
      </Group>
      {candidate ? (
        <Stack gap="sm">
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
          <Group gap="xs">
            <Button loading={promote.isPending} onClick={() => promote.mutate()} data-testid="canary-promote">
              Promote v{candidate.model_version_number}
            </Button>
            <Button variant="default" loading={stop.isPending} onClick={() => stop.mutate()} data-testid="canary-stop">
              Stop the canary
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
        </Stack>
      ) : others.length === 0 ? (
        <Text size="sm" c="dimmed">
          Train another version to try it on a share of the requests before it answers them all.
        </Text>
      ) : (
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
          <Button
            variant="light"
            disabled={!version}
            loading={start.isPending}
            onClick={() => version && start.mutate({ model_version: Number(version), percent })}
            data-testid="canary-start"
          >
            Start canary
          </Button>
        </Group>
      )}
    </Card>
  );
}
