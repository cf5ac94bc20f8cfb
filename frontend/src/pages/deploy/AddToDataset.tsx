import { Alert, Badge, Button, Group, Popover, Select, Stack, Text } from "@mantine/core";
import { IconCheck, IconDatabasePlus } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { imageDelete, imageUpdate, usePredictionAddToDataset } from "../../api/hooks";
import { keys } from "../../api/hooks/keys";
import type { AddedToDataset, PredictionLogEntry } from "../../api/types";
import { notifyUndoable } from "../../components/UndoToast";
import { notifyError, notifySuccess } from "../../lib/notify";

/** The data set already had the picture, with another label: the user says which stays. */
function DuplicateChoice({
  answer,
  wanted,
  onKeep,
  onUseNew,
  busy,
}: {
  answer: AddedToDataset;
  wanted: string;
  onKeep: () => void;
  onUseNew: () => void;
  busy: boolean;
}) {
  return (
    <Alert color="yellow" variant="light" p="xs" data-testid="add-to-dataset-duplicate" maw={300}>
      <Stack gap={6}>
        <Text size="xs">
          The data set already has this image, labeled <b>{answer.label ?? "nothing"}</b>. Nothing was changed.
        </Text>
        <Group gap={4} wrap="nowrap">
          <Button size="compact-xs" variant="default" onClick={onKeep} data-testid="duplicate-keep">
            Keep “{answer.label ?? "no label"}”
          </Button>
          <Button size="compact-xs" variant="light" loading={busy} onClick={onUseNew} data-testid="duplicate-use-new">
            Use “{wanted}”
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}

/** "Add to data set" for one logged prediction: with Undo (the new image is deleted again),
 * and a choice instead of a silent keep when the data set already has the picture. */
export function AddToDataset({
  entry,
  slug,
  projectId,
  labels,
}: {
  entry: PredictionLogEntry;
  slug: string;
  projectId: number;
  labels: string[];
}) {
  const queryClient = useQueryClient();
  const [opened, setOpened] = useState(false);
  const [label, setLabel] = useState<string | null>(entry.label);
  const [duplicate, setDuplicate] = useState<{ answer: AddedToDataset; wanted: string } | null>(null);
  const [relabeling, setRelabeling] = useState(false);

  const refresh = () => {
    queryClient.invalidateQueries({ queryKey: keys.predictionLog(slug) });
    queryClient.invalidateQueries({ queryKey: keys.images(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.stats(projectId) });
    queryClient.invalidateQueries({ queryKey: keys.labels(projectId) });
  };

  const add = usePredictionAddToDataset(slug, projectId, entry.id, {
    onSuccess: (answer) => {
      setOpened(false);
      const wanted = label ?? "";
      if (answer.created) {
        notifyUndoable({
          id: `add-to-dataset-${entry.id}`,
          message: `Added to the data set as “${answer.label ?? wanted}”.`,
          undo: async () => {
            await imageDelete(projectId, answer.image);
            refresh();
          },
          undoneMessage: "The image was taken out of the data set again.",
        });
      } else if (answer.label === wanted) {
        notifySuccess(`The data set already had this image, labeled “${wanted}”.`);
      } else {
        setDuplicate({ answer, wanted });
      }
    },
  });

  const useNew = async () => {
    if (!duplicate) return;
    const { answer, wanted } = duplicate;
    setRelabeling(true);
    try {
      await imageUpdate(projectId, answer.image, { label: wanted });
      setDuplicate(null);
      refresh();
      notifyUndoable({
        id: `add-to-dataset-${entry.id}`,
        message: `The image in the data set is labeled “${wanted}” now (it was “${answer.label ?? "unlabeled"}”).`,
        undo: async () => {
          await imageUpdate(projectId, answer.image, { label: answer.label });
          refresh();
        },
        undoneMessage: `The image is labeled “${answer.label ?? "unlabeled"}” again.`,
      });
    } catch (error) {
      notifyError(error);
    } finally {
      setRelabeling(false);
    }
  };

  if (duplicate) {
    return (
      <DuplicateChoice
        answer={duplicate.answer}
        wanted={duplicate.wanted}
        busy={relabeling}
        onKeep={() => {
          setDuplicate(null);
          notifySuccess(`Kept the label “${duplicate.answer.label ?? "unlabeled"}”.`);
        }}
        onUseNew={() => void useNew()}
      />
    );
  }
  if (entry.added_image) {
    return (
      <Badge color="teal" variant="light" leftSection={<IconCheck size={12} />} data-testid="in-dataset">
        In data set
      </Badge>
    );
  }
  if (!entry.image_url) {
    return (
      <Text size="xs" c="dimmed">
        Image not kept
      </Text>
    );
  }
  return (
    <Popover opened={opened} onChange={setOpened} position="left" withArrow shadow="md" trapFocus>
      <Popover.Target>
        <Button
          size="xs"
          variant="light"
          leftSection={<IconDatabasePlus size={14} />}
          onClick={() => setOpened((o) => !o)}
          data-testid="add-to-dataset"
        >
          Add to data set
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <Stack gap="xs" w={220}>
          <Select
            label="With the label"
            data={labels}
            value={label}
            onChange={setLabel}
            allowDeselect={false}
            comboboxProps={{ withinPortal: false }}
            data-testid="add-to-dataset-label"
          />
          <Button
            size="xs"
            loading={add.isPending}
            disabled={!label}
            onClick={() => label && add.mutate(label)}
            data-testid="add-to-dataset-confirm"
          >
            Add
          </Button>
        </Stack>
      </Popover.Dropdown>
    </Popover>
  );
}
