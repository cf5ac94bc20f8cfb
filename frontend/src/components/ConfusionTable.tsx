/**
 * A confusion matrix as a heat-map table (rows: the true label, columns: what the model
 * said), for the Model page (cells that open their images) and the Compare page (two side
 * by side, read only).
 */
import { Box, ScrollArea, Text, Tooltip } from "@mantine/core";
import { heatColor, heatTextColor, rowNormalize } from "../lib/confusion";
import { formatNumber, formatPercent } from "../lib/format";

export function ConfusionTable({
  labels,
  matrix,
  cellTestId,
  axisTitles = false,
  active = null,
  onCell,
}: {
  labels: string[];
  matrix: number[][];
  cellTestId: string;
  /** "Predicted" over the columns and "True label" beside the rows. */
  axisTitles?: boolean;
  active?: { row: number; col: number } | null;
  /** Makes each cell a button. */
  onCell?: (row: number, col: number) => void;
}) {
  const norm = rowNormalize(matrix);
  return (
    <ScrollArea>
      <table style={{ borderCollapse: "separate", borderSpacing: 4, margin: "0 auto" }}>
        <thead>
          {axisTitles && (
            <tr>
              <th colSpan={2} />
              <th colSpan={labels.length}>
                <Text size="xs" c="dimmed" fw={600} ta="center" tt="uppercase">
                  Predicted
                </Text>
              </th>
            </tr>
          )}
          <tr>
            {axisTitles && <th />}
            <th />
            {labels.map((l) => (
              <th key={l} style={{ fontSize: 12, fontWeight: 600, padding: "0 4px", maxWidth: 90 }}>
                <Text size="xs" fw={600} truncate maw={90}>
                  {l}
                </Text>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {matrix.map((row, r) => (
            <tr key={r}>
              {axisTitles && r === 0 && (
                <th rowSpan={matrix.length} style={{ width: 18, padding: 0 }}>
                  <Text
                    size="xs"
                    c="dimmed"
                    fw={600}
                    tt="uppercase"
                    style={{ writingMode: "vertical-rl", transform: "rotate(180deg)", whiteSpace: "nowrap" }}
                  >
                    True label
                  </Text>
                </th>
              )}
              <th style={{ textAlign: "right", paddingRight: 8 }}>
                <Text size="xs" fw={600} truncate maw={120}>
                  {labels[r]}
                </Text>
              </th>
              {row.map((value, c) => (
                <td key={c} style={{ padding: 0 }}>
                  <Tooltip
                    label={`${formatNumber(value)} “${labels[r]}” image${value === 1 ? "" : "s"} predicted as “${labels[c]}” (${formatPercent(norm[r][c], 0)} of the row)`}
                  >
                    <Box
                      component={onCell ? "button" : "div"}
                      type={onCell ? "button" : undefined}
                      className="cm-cell"
                      data-active={active?.row === r && active?.col === c}
                      data-testid={cellTestId}
                      data-row={r}
                      data-col={c}
                      onClick={onCell ? () => onCell(r, c) : undefined}
                      style={{
                        background: heatColor(norm[r][c], r === c),
                        color: heatTextColor(norm[r][c]),
                        border: 0,
                        width: "100%",
                        fontWeight: 600,
                        textAlign: "center",
                      }}
                    >
                      {formatNumber(value)}
                    </Box>
                  </Tooltip>
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollArea>
  );
}
