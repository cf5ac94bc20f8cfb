import { describe, expect, it } from "vitest";
import { agreementText, gateBadge, settleLabels } from "./rollout";

describe("rollout helpers", () => {
  it("says how far the versions agree", () => {
    expect(agreementText(0, null)).toMatch(/No request yet/);
    expect(agreementText(200, 0.975)).toBe("The versions agree on 97.5 % of 200 requests.");
    expect(agreementText(1, 1)).toBe("The versions agree on 100 % of 1 request.");
  });

  it("names the gate's state", () => {
    expect(gateBadge({ state: "blocked", enabled: true })).toEqual({ color: "red", text: "Blocked" });
    expect(gateBadge({ state: "off", enabled: false }).text).toBe("No gate");
    expect(gateBadge({ state: "ready", enabled: true }).color).toBe("teal");
  });

  it("offers every label of both versions once", () => {
    expect(settleLabels(["ants", "bees"], ["bees", "wasps"])).toEqual(["ants", "bees", "wasps"]);
  });
});
