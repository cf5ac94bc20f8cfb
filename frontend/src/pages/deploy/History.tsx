import { Badge, Card, Group, ScrollArea, Skeleton, Table, Text } from "@mantine/core";
import { IconHistory } from "@tabler/icons-react";
import type { DeploymentChange } from "../../api/types";
import { formatDateTime } from "../../lib/format";

const REASON: Record<DeploymentChange["reason"], { label: string; color: string }> = {
  deploy: { label: "Deployed", color: "teal" },
  manual: { label: "Switched", color: "blue" },
  promotion: { label: "Promoted", color: "grape" },
  rollback: { label: "Rolled back", color: "orange" },
};

/** Every change of the version a deployment serves, newest first: when, who, from, to, why. */
export function DeploymentHistory({ history, loading }: { history: DeploymentChange[]; loading: boolean }) {
  return (
    <Card data-testid="deployment-history">
      <Group gap="xs" mb="xs">
        <IconHistory size={18} />
        <Text fw={600}>History</Text>
      </Group>
      {loading ? (
        <Skeleton h={80} />
      ) : (
        <ScrollArea.Autosize mah={280}>
          <Table verticalSpacing={4} fz="sm">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>When</Table.Th>
                <Table.Th>Change</Table.Th>
                <Table.Th>Why</Table.Th>
                <Table.Th>Who</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {history.map((h) => (
                <Table.Tr key={h.id} data-testid="history-row" data-reason={h.reason} data-to={h.to_number}>
                  <Table.Td>{formatDateTime(h.created_at)}</Table.Td>
                  <Table.Td>
                    {h.from_number === null ? `Serving v${h.to_number}` : `v${h.from_number} → v${h.to_number}`}
                  </Table.Td>
                  <Table.Td>
                    <Badge size="sm" variant="light" color={REASON[h.reason].color}>
                      {REASON[h.reason].label}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{h.changed_by ?? (h.reason === "promotion" ? "promotion gate" : "—")}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ScrollArea.Autosize>
      )}
    </Card>
  );
}
