import { Kbd, Modal, Table, Text } from "@mantine/core";
import { SHORTCUTS } from "../../lib/keyboard";

/** The labeling keys, opened with "?". */
export function ShortcutsModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  return (
    <Modal opened={opened} onClose={onClose} title={<Text fw={700}>Keyboard shortcuts</Text>} centered>
      <Table data-testid="shortcuts-help" verticalSpacing="xs">
        <Table.Tbody>
          {SHORTCUTS.map((s) => (
            <Table.Tr key={s.keys}>
              <Table.Td w={140}>
                <Kbd>{s.keys}</Kbd>
              </Table.Td>
              <Table.Td>
                <Text size="sm">{s.action}</Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Text size="xs" c="dimmed" mt="sm">
        Number keys follow the order of the labels in the side bar. When several images are selected, a label key labels
        all of them.
      </Text>
    </Modal>
  );
}
