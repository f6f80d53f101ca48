/**
 * Browser sessions, held server-side: an opaque random id (the cookie) → who logged in and their token.
 * The token is kept only to re-run the TokenReview (a revoked token stops working within
 * `recheckMs`); it is never written anywhere else. Bounded: at most `maxPerUser` per user (a user's
 * next login drops that user's oldest session) and `maxSessions` in all, each expiring `ttlMs` after
 * login. At the global cap a new login is refused rather than anyone else's session dropped: one
 * tenant's ServiceAccount logging in in a loop must not sign an auditor out. Pure apart from the
 * injected clock and random source.
 */
import { randomBytes } from 'node:crypto';
import type { UserIdentity } from './reviews.js';

/** 32 random bytes: 256 bits, unguessable; base64url keeps the cookie value plain. */
const SESSION_ID_BYTES = 32;

/** One logged-in browser. */
export interface Session {
  id: string;
  user: UserIdentity;
  /** The bearer token the user typed; only for re-checking it. */
  token: string;
  createdAt: number;
  /** When the TokenReview last said yes. */
  checkedAt: number;
}

/** A person's browsers and scripts: a few at a time; one caller looping logins only drops their own. */
export const DEFAULT_SESSIONS_PER_USER = 10;

/** Settings of {@link createSessionStore}. */
export interface SessionStoreOptions {
  ttlMs: number;
  maxSessions: number;
  /** Sessions per username at most (default {@link DEFAULT_SESSIONS_PER_USER}). */
  maxPerUser?: number;
  /** A session whose last TokenReview is older than this must be reviewed again before use. */
  recheckMs: number;
  now?: () => number;
  randomId?: () => string;
}

/** The store; `get` returns only live sessions. */
export interface SessionStore {
  /** A new session; undefined when the store is full of other users' live sessions (answer 503). */
  create(user: UserIdentity, token: string): Session | undefined;
  /** The live session with this id (expired ones are dropped on the way). */
  get(id: string | undefined): Session | undefined;
  /** True when the session's TokenReview is older than `recheckMs`. */
  needsRecheck(session: Session): boolean;
  /** Records a fresh TokenReview (with the identity it returned). */
  rechecked(session: Session, user: UserIdentity): void;
  delete(id: string | undefined): void;
  size(): number;
}

/** Creates an empty store. */
export function createSessionStore(opts: SessionStoreOptions): SessionStore {
  const now = opts.now ?? Date.now;
  const randomId = opts.randomId ?? (() => randomBytes(SESSION_ID_BYTES).toString('base64url'));
  // Insertion order is creation order: the first key is always the oldest session.
  const sessions = new Map<string, Session>();
  // Each user's session ids, oldest first; keyed by the username at login (a re-check keeps it).
  const byUser = new Map<string, { ids: Set<string> }>();
  const owner = new Map<string, string>();
  const maxPerUser = opts.maxPerUser ?? DEFAULT_SESSIONS_PER_USER;

  function expired(s: Session, t: number): boolean {
    return t - s.createdAt >= opts.ttlMs;
  }

  function drop(id: string): void {
    if (!sessions.delete(id)) return;
    const name = owner.get(id)!;
    owner.delete(id);
    const mine = byUser.get(name)!;
    mine.ids.delete(id);
    if (mine.ids.size === 0) byUser.delete(name);
  }

  function sweep(t: number): void {
    for (const [id, s] of sessions) {
      if (!expired(s, t)) break;
      drop(id);
    }
  }

  return {
    create(user, token) {
      const t = now();
      sweep(t);
      const mine = byUser.get(user.username);
      while (mine && mine.ids.size >= maxPerUser) drop(mine.ids.values().next().value!);
      if (sessions.size >= opts.maxSessions) return undefined;
      const session: Session = { id: randomId(), user, token, createdAt: t, checkedAt: t };
      sessions.set(session.id, session);
      owner.set(session.id, user.username);
      const list = byUser.get(user.username) ?? { ids: new Set<string>() };
      list.ids.add(session.id);
      byUser.set(user.username, list);
      return session;
    },
    get(id) {
      if (!id) return undefined;
      const s = sessions.get(id);
      if (!s) return undefined;
      if (expired(s, now())) {
        drop(id);
        return undefined;
      }
      return s;
    },
    needsRecheck: (s) => now() - s.checkedAt >= opts.recheckMs,
    rechecked(s, user) {
      s.checkedAt = now();
      s.user = user;
    },
    delete(id) {
      if (id) drop(id);
    },
    size: () => sessions.size,
  };
}
