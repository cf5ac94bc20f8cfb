import { describe, expect, it } from "vitest";
import { defaultDeployVersion, rollbackTarget } from "./versions";

const v = (id: number, number: number, accuracy: number | null) => ({ id, number, metrics: { accuracy } as never });

describe("defaultDeployVersion", () => {
  const models = [v(30, 3, 0.8), v(20, 2, 0.9), v(10, 1, 0.85)];

  it("never starts on the version already deployed: the best undeployed one", () => {
    expect(defaultDeployVersion(models, [20])).toBe(10);
    expect(defaultDeployVersion(models, [10])).toBe(20);
  });

  it("prefers the newest among equally good versions", () => {
    expect(defaultDeployVersion([v(2, 2, 0.9), v(1, 1, 0.9)], [])).toBe(2);
  });

  it("falls back to the newest when every version is deployed, and honours ?version=", () => {
    expect(defaultDeployVersion(models, [10, 20, 30])).toBe(30);
    expect(defaultDeployVersion(models, [20], 20)).toBe(20);
    expect(defaultDeployVersion(models, [20], 99)).toBe(10);
    expect(defaultDeployVersion([], [])).toBeNull();
  });
});

describe("rollbackTarget", () => {
  const change = (from_version: number | null, from_number: number | null) => ({ from_version, from_number });

  it("is the version served before the last change, not the previous number", () => {
    // v1 -> v3 -> v2 (newest first): rolling back returns to v3.
    expect(rollbackTarget([change(30, 3), change(10, 1), change(null, null)])).toEqual({ id: 30, number: 3 });
  });

  it("is null with nothing served before, or a deleted version", () => {
    expect(rollbackTarget([change(null, null)])).toBeNull();
    expect(rollbackTarget([])).toBeNull();
    expect(rollbackTarget([change(null, 2)])).toBeNull();
  });
});
