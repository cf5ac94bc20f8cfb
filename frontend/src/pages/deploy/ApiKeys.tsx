import {
  ActionIcon,
  Alert,
  Button,
  Card,
  Code,
  CopyButton,
  Group,
  Modal,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
} from "@mantine/core";
import { IconAlertTriangle, IconCheck, IconCopy, IconKey, IconTrash } from "@tabler/icons-react";
import { useState, type FormEvent } from "react";
import { useApiKeyCreate, useApiKeyRevoke, useApiKeys } from "../../api/hooks";
import type { ApiKey, NewApiKey } from "../../api/types";
import { ErrorState } from "../../components/States";
import { formatDateTime } from "../../lib/format";
import { notifySuccess } from "../../lib/notify";

export function ApiKeys({ slug, onCreated }: { slug: string; onCreated: (key: string) => void }) {
  const list = useApiKeys(slug);
  const [name, setName] = useState("");
  const [shown, setShown] = useState<NewApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);

  const create = useApiKeyCreate(slug, {
    onSuccess: (key) => {
      setName("");
      setShown(key);
      if (key.key) onCreated(key.key);
    },
  });
  const revoke = useApiKeyRevoke(slug, {
    onSuccess: () => {
      setRevoking(null);
      notifySuccess("The key was revoked. Programs using it now get an error.");
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(name.trim() || "API key");
  };
  const active = (list.data ?? []).filter((k) => !k.revoked);

  return (
    <Card h="100%" data-testid="api-keys">
      <Stack gap="sm">
        <div>
          <Text fw={600}>API keys</Text>
          <Text size="xs" c="dimmed">
            Programs send a key in the Authorization header. Give each program its own key, so you can revoke one
            without breaking the others.
          </Text>
        </div>
        <form onSubmit={submit}>
          <Group gap="xs" align="flex-end" wrap="nowrap">
            <TextInput
              label="Key name"
              placeholder="e.g. mobile app"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              style={{ flex: 1 }}
              data-testid="key-name"
            />
            <Button type="submit" leftSection={<IconKey size={16} />} loading={create.isPending} data-testid="create-key">
              Create key
            </Button>
          </Group>
        </form>
        {list.isError ? (
          <ErrorState error={list.error} onRetry={() => list.refetch()} />
        ) : active.length === 0 ? (
          <Text size="sm" c="dimmed" py="sm">
            {list.isPending ? "Loading keys…" : "No keys yet. Create one to call the API from your programs."}
          </Text>
        ) : (
          <Table verticalSpacing={6} data-testid="key-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Starts with</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {active.map((k) => (
                <Table.Tr key={k.id} data-testid="key-row">
                  <Table.Td>{k.name}</Table.Td>
                  <Table.Td>
                    <Code>{k.prefix}…</Code>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs">{formatDateTime(k.created)}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Tooltip label="Revoke">
                      <ActionIcon
                        variant="subtle"
                        color="red"
                        onClick={() => setRevoking(k)}
                        aria-label={`Revoke key ${k.name}`}
                        data-testid="revoke-key"
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Stack>

      <Modal
        opened={shown !== null}
        onClose={() => setShown(null)}
        title={<Text fw={700}>Your new API key</Text>}
        centered
        size="lg"
        closeOnClickOutside={false}
      >
        <Stack gap="md">
          <Alert color="yellow" variant="light" icon={<IconAlertTriangle size={18} />}>
            Copy it now: this is the only time Bakehouse shows the whole key. If you lose it, revoke it and create a new
            one.
          </Alert>
          <Group gap="xs" wrap="nowrap">
            <Code block style={{ flex: 1, wordBreak: "break-all", whiteSpace: "pre-wrap" }} data-testid="api-key-value">
              {shown?.key ?? ""}
            </Code>
            <CopyButton value={shown?.key ?? ""}>
              {({ copied, copy }) => (
                <Button
                  onClick={copy}
                  variant={copied ? "light" : "filled"}
                  color={copied ? "teal" : undefined}
                  leftSection={copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
                  data-testid="copy-key"
                >
                  {copied ? "Copied" : "Copy"}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Text size="xs" c="dimmed">
            The code examples below now contain this key, until you leave the page.
          </Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setShown(null)} data-testid="close-key">
              I saved it
            </Button>
          </Group>
        </Stack>
      </Modal>

      <Modal opened={revoking !== null} onClose={() => setRevoking(null)} title={<Text fw={700}>Revoke “{revoking?.name}”?</Text>} centered>
        <Text size="sm">Programs using this key stop working at once. This cannot be undone.</Text>
        <Group justify="flex-end" mt="lg">
          <Button variant="default" onClick={() => setRevoking(null)}>
            Cancel
          </Button>
          <Button
            color="red"
            loading={revoke.isPending}
            onClick={() => revoking && revoke.mutate(revoking)}
            data-testid="confirm-revoke"
          >
            Revoke
          </Button>
        </Group>
      </Modal>
    </Card>
  );
}
