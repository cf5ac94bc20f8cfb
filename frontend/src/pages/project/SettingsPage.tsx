import {
  ActionIcon,
  Button,
  Card,
  ColorInput,
  Grid,
  Group,
  Modal,
  NumberInput,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconCheck, IconTrash } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { fieldError } from "../../api/client";
import { useLabelDelete, useLabelUpdate, useLabels, useProjectDelete, useProjectUpdate } from "../../api/hooks";
import type { Label, TargetMetric } from "../../api/types";
import { ErrorState } from "../../components/States";
import { formatNumber, labelColor } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";
import { useProjectContext } from "./context";
import { WebhooksSection } from "../webhooks/WebhooksSection";
import { RetrainingSection } from "../retraining/RetrainingSection";

function LabelRow({ projectId, label, index }: { projectId: number; label: Label; index: number }) {
  const [name, setName] = useState(label.name);
  const [color, setColor] = useState(label.color || labelColor(label.name, index));
  const [confirm, setConfirm] = useState(false);
  const save = useLabelUpdate(projectId, label.id, { onSuccess: () => notifySuccess("Label saved.") });
  const remove = useLabelDelete(projectId, label.id, {
    onSuccess: () => {
      setConfirm(false);
      notifySuccess(`Label “${label.name}” deleted; its images are now unlabeled.`);
    },
  });
  const dirty = name.trim() !== label.name || (color !== (label.color || labelColor(label.name, index)) && !!color);
  return (
    <Table.Tr data-testid="settings-label-row">
      <Table.Td>
        <TextInput size="xs" value={name} onChange={(e) => setName(e.currentTarget.value)} aria-label="Label name" />
      </Table.Td>
      <Table.Td w={150}>
        <ColorInput size="xs" value={color} onChange={setColor} format="hex" aria-label="Label colour" />
      </Table.Td>
      <Table.Td>{formatNumber(label.image_count ?? 0)}</Table.Td>
      <Table.Td w={90}>
        <Group gap={4} wrap="nowrap">
          <Tooltip label="Save">
            <ActionIcon variant="light" disabled={!dirty || !name.trim()} loading={save.isPending} onClick={() => save.mutate({ name: name.trim(), color })} aria-label="Save label">
              <IconCheck size={16} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Delete">
            <ActionIcon variant="subtle" color="red" onClick={() => setConfirm(true)} aria-label={`Delete label ${label.name}`}>
              <IconTrash size={16} />
            </ActionIcon>
          </Tooltip>
        </Group>
        <Modal opened={confirm} onClose={() => setConfirm(false)} title={<Text fw={700}>Delete “{label.name}”?</Text>} centered>
          <Text size="sm">
            Its {formatNumber(label.image_count ?? 0)} images stay in the project without a label. Models already trained
            keep working.
          </Text>
          <Group justify="flex-end" mt="lg">
            <Button variant="default" onClick={() => setConfirm(false)}>
              Cancel
            </Button>
            <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
              Delete label
            </Button>
          </Group>
        </Modal>
      </Table.Td>
    </Table.Tr>
  );
}

export default function SettingsPage() {
  const { project } = useProjectContext();
  const navigate = useNavigate();
  const labels = useLabels(project.id);
  const [name, setName] = useState(project.name);
  const [predicts, setPredicts] = useState(project.predicts);
  const [description, setDescription] = useState(project.description);
  const [metric, setMetric] = useState<TargetMetric>(project.target_metric);
  const [target, setTarget] = useState<number | string>(Math.round(project.target_value * 100));
  const [confirmName, setConfirmName] = useState("");
  const [deleting, setDeleting] = useState(false);

  const save = useProjectUpdate(project.id, { onSuccess: () => notifySuccess("Project saved.") });
  const remove = useProjectDelete(project.id, {
    onSuccess: () => {
      notifySuccess(`Project “${project.name}” deleted.`);
      navigate("/");
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate({
      name: name.trim(),
      predicts: predicts.trim(),
      description,
      target_metric: metric,
      target_value: Number(target) / 100,
    });
  };

  return (
    <Grid gutter="lg">
      <Grid.Col span={{ base: 12, md: 6 }}>
        <Card>
          <form onSubmit={submit}>
            <Stack gap="sm">
              <Title order={2} size="h4">
                Problem definition
              </Title>
              <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} error={fieldError(save.error, "name")} />
              <TextInput label="What do you want to predict?" value={predicts} onChange={(e) => setPredicts(e.currentTarget.value)} />
              <Textarea label="Notes" autosize minRows={2} value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
              <Text size="sm" fw={500}>
                Target
              </Text>
              <Group gap="sm">
                <SegmentedControl
                  value={metric}
                  onChange={(v) => setMetric(v as TargetMetric)}
                  data={[
                    { value: "accuracy", label: "Accuracy" },
                    { value: "macro_f1", label: "Macro F1" },
                  ]}
                />
                <NumberInput aria-label="Target value" value={target} onChange={setTarget} min={50} max={100} suffix="%" w={110} />
              </Group>
              <Group justify="flex-end">
                <Button type="submit" loading={save.isPending} disabled={!name.trim()}>
                  Save
                </Button>
              </Group>
            </Stack>
          </form>
        </Card>
        <Card mt="lg" style={{ borderColor: "var(--mantine-color-red-3)" }}>
          <Stack gap="xs">
            <Title order={2} size="h4" c="red">
              Delete project
            </Title>
            <Text size="sm">Deletes every image, label, model and deployment of this project. This cannot be undone.</Text>
            <Group>
              <Button color="red" variant="light" onClick={() => setDeleting(true)} data-testid="delete-project">
                Delete this project
              </Button>
            </Group>
          </Stack>
        </Card>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 6 }}>
        <Card>
          <Title order={2} size="h4" mb="xs">
            Labels
          </Title>
          <Text size="sm" c="dimmed" mb="sm">
            Rename a label or change its colour. New labels are added in the Dataset tab. Number keys follow this order.
          </Text>
          {labels.isError ? (
            <ErrorState error={labels.error} onRetry={() => labels.refetch()} />
          ) : (
            <Table verticalSpacing={6}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Colour</Table.Th>
                  <Table.Th>Images</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {(labels.data ?? []).map((label, i) => (
                  <LabelRow key={`${label.id}-${label.name}-${label.color}`} projectId={project.id} label={label} index={i} />
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
        <RetrainingSection projectId={project.id} />
        <WebhooksSection projectId={project.id} />
      </Grid.Col>
      <Modal opened={deleting} onClose={() => setDeleting(false)} title={<Text fw={700}>Delete “{project.name}”?</Text>} centered>
        <Stack gap="sm">
          <Text size="sm">Type the project name to confirm. Its API endpoints stop working at once.</Text>
          <TextInput value={confirmName} onChange={(e) => setConfirmName(e.currentTarget.value)} placeholder={project.name} data-autofocus />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setDeleting(false)}>
              Cancel
            </Button>
            <Button color="red" disabled={confirmName !== project.name} loading={remove.isPending} onClick={() => remove.mutate()} data-testid="confirm-delete-project">
              Delete project
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Grid>
  );
}
