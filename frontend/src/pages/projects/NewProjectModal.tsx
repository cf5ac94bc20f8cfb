import {
  Alert,
  Button,
  Group,
  Modal,
  NumberInput,
  SegmentedControl,
  Stack,
  TagsInput,
  Text,
  Textarea,
  TextInput,
} from "@mantine/core";
import { IconAlertCircle } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { errorMessage, fieldError } from "../../api/client";
import { useProjectCreate } from "../../api/hooks";
import type { TargetMetric } from "../../api/types";

/** Characters that end a label as it is typed or pasted. Mantine builds a character class from
 * these (`[${chars}]`), so each must be ONE character: "Enter" here would split labels at
 * E, n, t, e and r ("ants" → "a", "s"). Enter already ends a label on its own. */
export const LABEL_SPLIT_CHARS = [","];

/** The tags plus any comma-separated text still in the box, without duplicates or blanks. */
export function mergeLabels(tags: string[], draft: string): string[] {
  const out: string[] = [];
  for (const raw of [...tags, ...draft.split(",")]) {
    const name = raw.trim();
    if (name && !out.some((n) => n.toLowerCase() === name.toLowerCase())) out.push(name);
  }
  return out;
}

/** The short problem definition: what to predict, which labels, what accuracy is good enough. */
export function NewProjectModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [predicts, setPredicts] = useState("");
  const [labels, setLabels] = useState<string[]>([]);
  // Text typed in the labels box but not yet turned into a tag still counts on submit.
  const [labelDraft, setLabelDraft] = useState("");
  const [metric, setMetric] = useState<TargetMetric>("accuracy");
  const [target, setTarget] = useState<number | string>(90);
  const [description, setDescription] = useState("");

  const create = useProjectCreate({
    inlineError: true,
    onSuccess: (project) => {
      setName("");
      setPredicts("");
      setLabels([]);
      setLabelDraft("");
      setDescription("");
      onClose();
      navigate(`/projects/${project.id}/dataset`);
    },
  });

  const labelProblem = mergeLabels(labels, labelDraft).length === 1 ? "A model chooses between labels: add at least two." : undefined;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const value = typeof target === "number" ? target : Number(target);
    create.mutate({
      name: name.trim(),
      predicts: predicts.trim(),
      description: description.trim(),
      labels: mergeLabels(labels, labelDraft),
      task_type: "single_label",
      target_metric: metric,
      target_value: Number.isFinite(value) ? value / 100 : 0.9,
    });
  };

  return (
    <Modal opened={opened} onClose={onClose} title={<Text fw={700}>New project</Text>} size="lg" centered>
      <form onSubmit={submit} data-testid="new-project-form">
        <Stack gap="md">
          {create.isError && !fieldError(create.error, "name") && (
            <Alert color="red" variant="light" icon={<IconAlertCircle size={18} />}>
              {errorMessage(create.error)}
            </Alert>
          )}
          <TextInput
            label="Project name"
            placeholder="Ants or bees"
            required
            data-autofocus
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={fieldError(create.error, "name")}
            data-testid="project-name"
          />
          <TextInput
            label="What do you want to predict?"
            description="In your own words: the question the model answers for each image."
            placeholder="Is the insect in the photo an ant or a bee?"
            value={predicts}
            onChange={(e) => setPredicts(e.currentTarget.value)}
            data-testid="project-predicts"
          />
          <TagsInput
            label="Labels"
            description="The answers the model can give, separated by commas (or press Enter after each). You can add more later."
            placeholder={labels.length ? "" : "ants, bees"}
            value={labels}
            onChange={setLabels}
            searchValue={labelDraft}
            onSearchChange={setLabelDraft}
            splitChars={LABEL_SPLIT_CHARS}
            clearable
            error={labelProblem}
            data-testid="project-labels"
          />
          <Stack gap={4}>
            <Text size="sm" fw={500}>
              When is the model good enough?
            </Text>
            <Group align="flex-end" gap="sm">
              <SegmentedControl
                value={metric}
                onChange={(v) => setMetric(v as TargetMetric)}
                data={[
                  { value: "accuracy", label: "Accuracy" },
                  { value: "macro_f1", label: "Macro F1 (fair to rare labels)" },
                ]}
              />
              <NumberInput
                aria-label="Target"
                value={target}
                onChange={setTarget}
                min={50}
                max={100}
                step={1}
                suffix="%"
                w={110}
                data-testid="project-target"
              />
            </Group>
            <Text size="xs" c="dimmed">
              Bakehouse shows each model against this target. 90% is a good start for most problems.
            </Text>
          </Stack>
          <Textarea
            label="Notes"
            description="Optional"
            autosize
            minRows={2}
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
          />
          <Group justify="flex-end" mt="sm">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={create.isPending} disabled={!name.trim()} data-testid="create-project">
              Create project
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
