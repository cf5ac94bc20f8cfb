import { describe, expect, it } from "vitest";
import { imageFilterQuery, imageTarget, metaParams } from "./adapters";

describe("metadata filter", () => {
  it("becomes one meta.<column> parameter per column, in the list query and the bulk filter", () => {
    expect(metaParams({ camera: "north", site: "hill" })).toEqual({ "meta.camera": "north", "meta.site": "hill" });
    expect(imageFilterQuery({ label: "ants", meta: { camera: "north" } }).meta).toEqual({ "meta.camera": "north" });
    expect(imageFilterQuery({ label: "ants", meta: {} }).meta).toBeUndefined();
    expect(imageTarget("filter", { split: "test", meta: { camera: "north" } })).toEqual({
      filter: { split: "test", "meta.camera": "north" },
    });
    expect(imageTarget([4], { meta: { camera: "north" } })).toEqual({ image_ids: [4] });
  });
});
