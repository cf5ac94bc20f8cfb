import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Card,
  CopyButton,
  Grid,
  Group,
  Modal,
  Select,
  Slider,
  Stack,
  Switch,
  Tabs,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconCheck, IconCopy, IconRocket, IconTrash } from "@tabler/icons-react";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { defaultDeployVersion, rollbackTarget } from "./versions";
import { Link, useSearchParams } from "react-router";
import {
  useDeploymentCreate,
  useDeploymentDelete,
  useDeploymentHistory,
  useDeploymentRollback,
  useDeploymentUpdate,
  useDeployments,
  useModels,
} from "../../api/hooks";
import type { Deployment, ModelVersion, Precision } from "../../api/types";
import { EmptyState, ErrorState, PageLoader } from "../../components/States";
import { formatDateTime, formatPercent, modeName } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { absoluteUrl } from "../../lib/snippets";
import { useProjectContext } from "../project/context";
import { ApiKeys } from "./ApiKeys";
import { Batches } from "./Batches";
import { Canary } from "./Canary";
import { DeploymentHistory } from "./History";
import { PrecisionControl, hasInt8 } from "./Precision";
import { PredictionLog } from "./PredictionLog";
import { Snippets } from "./Snippets";
import { TryIt } from "./TryIt";

function versionOptions(models: ModelVersion[]) {
  return models.map((m) => ({
    value: String(m.id),
    label: `v${m.number} · ${modeName(m.mode)} · accuracy ${formatPercent(m.metrics.accuracy)}`,
  }));
}

function NewDeployment({
  projectId,
  models,
  initialVersion,
  deployedIds,
  onCreated,
}: {
  projectId: number;
  models: ModelVersion[];
  initialVersion: number | null;
  /** The versions deployments serve now: the form does not start on one of them. */
  deployedIds: number[];
  onCreated: (d: Deployment) => void;
}) {
  const [version, setVersion] = useState<string | null>(() => {
    const id = defaultDeployVersion(models, deployedIds, initialVersion);
    return id === null ? null : String(id);
  });
  const [name, setName] = useState("");
  const [precision, setPrecision] = useState<Precision>("fp32");
  const chosen = models.find((m) => String(m.id) === version);
  const served: Precision = hasInt8(chosen) ? precision : "fp32";
  const create = useDeploymentCreate(projectId, {
    onSuccess: (d) => {
      notifySuccess(`The API answers at ${absoluteUrl(d.predict_url)}`, "Deployed");
      setName("");
      onCreated(d);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (version) create.mutate({ model_version: Number(version), name: name.trim() || undefined, precision: served });
  };
  return (
    <form onSubmit={submit}>
      <Group align="flex-end" gap="sm" wrap="wrap">
        <Select
          label="Model version"
          data={versionOptions(models)}
          value={version}
          onChange={setVersion}
          allowDeselect={false}
          w={340}
          data-testid="deploy-version"
        />
        <TextInput
          label="Name"
          description=""
          placeholder="Optional, e.g. production"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          w={220}
          data-testid="deploy-name"
        />
        <PrecisionControl model={chosen} value={served} onChange={setPrecision} />
        <Button type="submit" leftSection={<IconRocket size={16} />} loading={create.isPending} data-testid="deploy-button">
          Deploy
        </Button>
      </Group>
    </form>
  );
}

function DeploymentPanel({ deployment, models, projectId }: { deployment: Deployment; models: ModelVersion[]; projectId: number }) {
  const [, setParams] = useSearchParams();
  const live = deployment.model_version;
  const [target, setTarget] = useState<string | null>(String(live.id));
  const [threshold, setThreshold] = useState(deployment.threshold);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [freshKey, setFreshKey] = useState<string | null>(null);
  useEffect(() => setTarget(String(live.id)), [live.id]);
  useEffect(() => setThreshold(deployment.threshold), [deployment.threshold]);

  const current = models.find((m) => m.id === live.id);
  // What was served before the last change (the history), not the previous number.
  const history = useDeploymentHistory(deployment.slug);
  const previous = rollbackTarget(history.data ?? []);
  const url = absoluteUrl(deployment.predict_url);
  const rollback = useDeploymentRollback(projectId, deployment.slug, {
    onSuccess: (d) => notifySuccess(`The API answers with model v${d.model_version.number} again.`, "Rolled back"),
  });

  const update = useDeploymentUpdate(projectId, deployment.slug, {
    onSuccess: (d, body) => {
      if (body.model_version !== undefined) {
        const m = models.find((x) => x.id === d.model_version.id);
        notifySuccess(`The API now answers with model v${m?.number ?? d.model_version.number ?? "?"}.`, "Switched");
      }
      if (body.precision !== undefined) {
        notifySuccess(`The API now answers with the ${d.precision} model.`, "Precision changed");
      }
      if (body.threshold !== undefined) {
        notifySuccess(
          `Answers below ${formatPercent(d.threshold, 0)} confidence are flagged uncertain, the logged ones included.`,
          "Threshold saved",
        );
      }
    },
  });
  const remove = useDeploymentDelete(projectId, deployment.slug, {
    onSuccess: () => {
      setConfirmDelete(false);
      setParams({}, { replace: true });
      notifySuccess("The deployment was removed; its URL and keys no longer work.");
    },
  });

  return (
    <Stack gap="lg" data-testid="deployment" data-slug={deployment.slug}>
      <Card>
        <Stack gap="md">
          <Group justify="space-between" align="flex-start">
            <div>
              <Group gap="xs">
                <Title order={3} size="h4">
                  {deployment.name || deployment.slug}
                </Title>
                <Badge color="teal" variant="light" data-testid="deployment-version">
                  Serving v{current?.number ?? live.number ?? "?"}
                  {deployment.precision === "int8" ? " · int8" : ""}
                </Badge>
              </Group>
              <Text size="xs" c="dimmed">
                Created {formatDateTime(deployment.created_at)}
              </Text>
            </div>
            <Group gap="xs">
              <Button
                size="xs"
                variant="light"
                component={Link}
                to={`/projects/${projectId}/deploy/${deployment.slug}/monitoring`}
                data-testid="monitoring-link"
              >
                Monitoring
              </Button>
              <Button
                size="xs"
                variant="subtle"
                color="red"
                leftSection={<IconTrash size={14} />}
                onClick={() => setConfirmDelete(true)}
              >
                Remove
              </Button>
            </Group>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <TextInput
              readOnly
              value={url}
              label="Prediction URL"
              style={{ flex: 1 }}
              classNames={{ input: "mono" }}
              data-testid="predict-url"
            />
            <CopyButton value={url}>
              {({ copied, copy }) => (
                <Tooltip label={copied ? "Copied" : "Copy"}>
                  <ActionIcon mt={24} size="lg" variant="light" onClick={copy} aria-label="Copy the prediction URL">
                    {copied ? <IconCheck size={18} /> : <IconCopy size={18} />}
                  </ActionIcon>
                </Tooltip>
              )}
            </CopyButton>
          </Group>
          <Grid gutter="lg">
            <Grid.Col span={{ base: 12, md: 6 }}>
              <Text size="sm" fw={500} mb={4}>
                Switch or roll back
              </Text>
              <Group gap="xs" wrap="nowrap">
                <Select
                  data={versionOptions(models)}
                  value={target}
                  onChange={setTarget}
                  allowDeselect={false}
                  style={{ flex: 1 }}
                  aria-label="Model version to serve"
                  data-testid="switch-version-select"
                />
                <Button
                  variant="light"
                  disabled={!target || Number(target) === live.id}
                  loading={update.isPending && update.variables?.model_version !== undefined}
                  onClick={() => update.mutate({ model_version: Number(target) })}
                  data-testid="switch-version"
                >
                  Switch
                </Button>
              </Group>
              <PrecisionControl
                model={current}
                value={deployment.precision}
                onChange={(precision) => update.mutate({ precision })}
                disabled={update.isPending}
                testId="switch-precision"
                mt="sm"
              />
              {previous && (
                <Button
                  variant="subtle"
                  size="xs"
                  mt={6}
                  px={0}
                  loading={rollback.isPending}
                  onClick={() => rollback.mutate()}
                  data-testid="rollback"
                  data-target={previous.number}
                >
                  Roll back to v{previous.number}
                </Button>
              )}
            </Grid.Col>
            <Grid.Col span={{ base: 12, md: 6 }}>
              <Text size="sm" fw={500}>
                Flag as uncertain below {formatPercent(threshold, 0)} confidence
              </Text>
              <Slider
                mt="xs"
                min={0}
                max={1}
                step={0.05}
                value={threshold}
                onChange={setThreshold}
                onChangeEnd={(v) => update.mutate({ threshold: v })}
                label={(v) => formatPercent(v, 0)}
                marks={[
                  { value: 0.5, label: "50%" },
                  { value: 0.8, label: "80%" },
                ]}
                aria-label="Uncertainty threshold"
              />
              <Switch
                mt="xl"
                checked={deployment.store_images}
                onChange={(e) => update.mutate({ store_images: e.currentTarget.checked })}
                label="Keep the images sent for prediction"
                description="Needed to review uncertain predictions and add them to the data set."
              />
            </Grid.Col>
          </Grid>
        </Stack>
      </Card>

      <Grid gutter="lg">
        <Grid.Col span={{ base: 12, lg: 6 }}>
          <ApiKeys slug={deployment.slug} onCreated={setFreshKey} />
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 6 }}>
          <TryIt slug={deployment.slug} liveVersion={live.id} />
        </Grid.Col>
      </Grid>
      <Canary deployment={deployment} models={models} projectId={projectId} />
      <DeploymentHistory history={history.data ?? []} loading={history.isPending} />
      <Snippets url={url} apiKey={freshKey} />
      <PredictionLog slug={deployment.slug} projectId={projectId} />
      <Batches slug={deployment.slug} />

      <Modal opened={confirmDelete} onClose={() => setConfirmDelete(false)} title={<Text fw={700}>Remove this deployment?</Text>} centered>
        <Text size="sm">
          Programs calling {url} will get an error, and its API keys stop working. The model versions stay; you can deploy
          again at any time.
        </Text>
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={() => setConfirmDelete(false)}>
            Cancel
          </Button>
          <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
            Remove
          </Button>
        </Group>
      </Modal>
    </Stack>
  );
}

export default function DeployPage() {
  const { project } = useProjectContext();
  const [params, setParams] = useSearchParams();
  const models = useModels(project.id);
  const deployments = useDeployments(project.id);
  const versionParam = params.get("version");
  const initialVersion = versionParam && /^\d+$/.test(versionParam) ? Number(versionParam) : null;
  const slugParam = params.get("deployment");
  const list = useMemo(() => deployments.data ?? [], [deployments.data]);
  const selected = list.find((d) => d.slug === slugParam) ?? list[0];

  if (models.isPending || deployments.isPending) return <PageLoader />;
  if (models.isError) return <ErrorState error={models.error} onRetry={() => models.refetch()} />;
  if (deployments.isError) return <ErrorState error={deployments.error} onRetry={() => deployments.refetch()} />;
  if (!models.data.length) {
    return (
      <Card>
        <EmptyState
          icon={<IconRocket size={32} />}
          title="Nothing to deploy yet"
          testId="deploy-empty"
          action={
            <Button component={Link} to={`/projects/${project.id}/train`}>
              Train a model
            </Button>
          }
        >
          Deploying gives a model a web address that other programs can send images to. Train a model first.
        </EmptyState>
      </Card>
    );
  }

  const select = (slug: string) => setParams({ deployment: slug });

  return (
    <Stack gap="lg">
      <Card>
        <Stack gap="sm">
          <div>
            <Title order={2} size="h4">
              {list.length ? "Deploy another version" : "Deploy a model"}
            </Title>
            <Text size="sm" c="dimmed">
              A deployment is a web address that answers with a prediction for each image sent to it, protected by API keys.
            </Text>
          </div>
          <NewDeployment
            key={list.map((d) => `${d.slug}:${d.model_version.id}`).join(",")}
            projectId={project.id}
            models={models.data}
            initialVersion={initialVersion}
            deployedIds={list.map((d) => d.model_version.id)}
            onCreated={(d) => select(d.slug)}
          />
        </Stack>
      </Card>

      {list.length === 0 ? (
        <Alert variant="light" color="blue" data-testid="no-deployments">
          No deployments yet. Pick a version above and press Deploy.
        </Alert>
      ) : (
        <>
          {list.length > 1 && (
            <Tabs value={selected?.slug} onChange={(v) => v && select(v)} variant="pills">
              <Tabs.List>
                {list.map((d) => (
                  <Tabs.Tab key={d.slug} value={d.slug} data-testid="deployment-tab">
                    {d.name || d.slug}
                  </Tabs.Tab>
                ))}
              </Tabs.List>
            </Tabs>
          )}
          {selected && <DeploymentPanel key={selected.slug} deployment={selected} models={models.data} projectId={project.id} />}
        </>
      )}
    </Stack>
  );
}
