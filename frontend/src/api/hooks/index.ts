/** Server state through TanStack Query: queries and the mutations beside them, per concern. */
export * from "./auth";
export * from "./compare";
export * from "./deployments";
export * from "./health";
export * from "./images";
export * from "./imports";
export * from "./keys";
export * from "./projects";
export * from "./training";
