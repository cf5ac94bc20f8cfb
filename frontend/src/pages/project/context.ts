import { useOutletContext } from "react-router";
import type { Project } from "../../api/types";

export interface ProjectContext {
  project: Project;
}

/** The project the current tab belongs to (loaded once by ProjectLayout). */
export function useProjectContext(): ProjectContext {
  return useOutletContext<ProjectContext>();
}
