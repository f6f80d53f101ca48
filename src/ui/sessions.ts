/**
 * Browser sessions, held server-side: an opaque random id (the cookie) → who logged in and their token.
 * The token is kept only to re-run the TokenReview (a revoked token stops working within
 * `recheckMs`); it is never written anywhere else. Bounded: at most `maxSessions`, each expiring
 * `ttlMs` after login; at the cap the oldest session is dropped, so a flood of logins cannot grow
 * memory. Pure apart from the injected clock and random source.
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

/** Settings of {@link createSessionStore}. */
export interface SessionStoreOptions {
  ttlMs: number;
  maxSessions: number;
  /** A session whose last TokenReview is older than this must be reviewed again before use. */
  recheckMs: number;
  now?: () => number;
  randomId?: () => string;
}

/** The store; `get` returns only live sessions. */
export interface SessionStore {
  create(user: UserIdentity, token: string): Session;
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

  function expired(s: Session, t: number): boolean {
    return t - s.createdAt >= opts.ttlMs;
  }

  function sweep(t: number): void {
    for (const [id, s] of sessions) {
      if (!expired(s, t)) break;
      sessions.delete(id);
    }
  }

  return {
    create(user, token) {
      const t = now();
      sweep(t);
      while (sessions.size >= opts.maxSessions) sessions.delete(sessions.keys().next().value!);
      const session: Session = { id: randomId(), user, token, createdAt: t, checkedAt: t };
      sessions.set(session.id, session);
      return session;
    },
    get(id) {
      if (!id) return undefined;
      const s = sessions.get(id);
      if (!s) return undefined;
      if (expired(s, now())) {
        sessions.delete(id);
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
      if (id) sessions.delete(id);
    },
    size: () => sessions.size,
  };
}
