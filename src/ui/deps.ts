/** The web view's dependencies (server.ts and routes.ts share them). */
import type { Logger } from 'pino';
import type { ChangeSource, Exporter, PoliciesSource, ReportSource, TenantDirectory, WorkloadSource } from './data.js';
import type { RenderLimitOptions } from './render-limit.js';
import type { Reviewer } from './reviews.js';
import type { SessionStore } from './sessions.js';

/** What the web view needs; every source is an interface so tests pass fakes. */
export interface UiServerDeps {
  /** TokenReview and SubjectAccessReview (wrap it in createCachedReviewer). */
  reviewer: Reviewer;
  sessions: SessionStore;
  /** How long a session lives: the cookie's Max-Age. */
  sessionTtlMs: number;
  tenants: TenantDirectory;
  changes: ChangeSource;
  workloads: WorkloadSource;
  reports: ReportSource;
  exporter: Exporter;
  policies: PoliciesSource;
  /** The stylesheet's text, served at /static/ui.css. */
  stylesheet: string;
  log: Logger;
  now?: () => Date;
  loginBodyLimit?: number;
  /** Renders at a time (default: server.ts DEFAULT_RENDER_LIMIT). */
  renderLimit?: RenderLimitOptions;
}
