import { Navigate, Outlet, useLocation, useSearchParams } from "react-router";
import { useMe } from "../api/hooks";
import { ErrorState, PageLoader } from "./States";
import { Container } from "@mantine/core";

/** Pages behind it need a logged-in user; anyone else goes to /login?next=<here>. */
export function RequireAuth() {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <PageLoader label="Opening Bakehouse…" />;
  if (me.isError)
    return (
      <Container size="sm" py="xl">
        <ErrorState error={me.error} title="Bakehouse is not answering" onRetry={() => me.refetch()} />
      </Container>
    );
  if (!me.data) {
    const next = location.pathname + location.search;
    return <Navigate to={next && next !== "/" ? `/login?next=${encodeURIComponent(next)}` : "/login"} replace />;
  }
  return <Outlet />;
}

/** The log-in and sign-up pages send a logged-in user on to where they were going. */
export function RedirectIfAuthed() {
  const me = useMe();
  const [params] = useSearchParams();
  if (me.isPending) return <PageLoader />;
  if (me.data) return <Navigate to={safeNext(params.get("next"))} replace />;
  return <Outlet />;
}

/** Only same-site paths: a `next` pointing elsewhere would be an open redirect. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//")) return "/";
  return next;
}
