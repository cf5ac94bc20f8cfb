import { lazy, Suspense } from "react";
import { Navigate, Route, Routes } from "react-router";
import { AppLayout } from "./components/AppLayout";
import { PageLoader } from "./components/States";
import { RequireAuth, RedirectIfAuthed } from "./components/RequireAuth";
import { LoginPage } from "./pages/auth/LoginPage";
import { SignupPage } from "./pages/auth/SignupPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ProjectsPage } from "./pages/projects/ProjectsPage";
import { ProjectLayout } from "./pages/project/ProjectLayout";

// The project tabs load on demand: charts and the grid are the heavy parts of the bundle.
const DatasetPage = lazy(() => import("./pages/dataset/DatasetPage"));
const TrainPage = lazy(() => import("./pages/train/TrainPage"));
const ModelPage = lazy(() => import("./pages/model/ModelPage"));
const DeployPage = lazy(() => import("./pages/deploy/DeployPage"));
const DataHealthPage = lazy(() => import("./pages/health/DataHealthPage"));
const SettingsPage = lazy(() => import("./pages/project/SettingsPage"));
const GuidePage = lazy(() => import("./pages/guide/GuidePage"));
const ComparePage = lazy(() => import("./pages/compare/ComparePage"));
const SystemPage = lazy(() => import("./pages/system/SystemPage"));
const MonitoringPage = lazy(() => import("./pages/monitoring/MonitoringPage"));

export function App() {
  return (
    <Routes>
      <Route element={<RedirectIfAuthed />}>
        <Route path="/login" element={<LoginPage />} />
        <Route path="/signup" element={<SignupPage />} />
      </Route>
      <Route element={<RequireAuth />}>
        <Route element={<AppLayout />}>
          <Route index element={<ProjectsPage />} />
          <Route path="projects" element={<Navigate to="/" replace />} />
          <Route path="guide" element={<Lazy><GuidePage /></Lazy>} />
          <Route path="system" element={<Lazy><SystemPage /></Lazy>} />
          <Route path="projects/:projectId" element={<ProjectLayout />}>
            <Route index element={<Navigate to="dataset" replace />} />
            <Route path="dataset" element={<Lazy><DatasetPage /></Lazy>} />
            <Route path="train" element={<Lazy><TrainPage /></Lazy>} />
            <Route path="model" element={<Lazy><ModelPage /></Lazy>} />
            <Route path="compare" element={<Lazy><ComparePage /></Lazy>} />
            <Route path="health" element={<Lazy><DataHealthPage /></Lazy>} />
            <Route path="deploy" element={<Lazy><DeployPage /></Lazy>} />
            <Route path="deploy/:slug/monitoring" element={<Lazy><MonitoringPage /></Lazy>} />
            <Route path="settings" element={<Lazy><SettingsPage /></Lazy>} />
          </Route>
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}

function Lazy({ children }: { children: React.ReactNode }) {
  return <Suspense fallback={<PageLoader />}>{children}</Suspense>;
}
