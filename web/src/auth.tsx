// Who is signed in. The token lives in localStorage (the console is a
// static bundle with no session of its own); GET /me resolves it to a name
// and a role, and the role decides which buttons exist.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, call, setUnauthorizedHandler, TOKEN_KEY, type Me } from './api/client';

interface Auth {
  me: Me | null;
  /** Operators and admins change things; viewers only read. */
  canMutate: boolean;
  login(token: string): Promise<void>;
  logout(): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => !!localStorage.getItem(TOKEN_KEY));

  const logout = useCallback(() => {
    localStorage.removeItem(TOKEN_KEY);
    setMe(null);
    qc.clear();
  }, [qc]);

  useEffect(() => {
    setUnauthorizedHandler(logout);
    if (!localStorage.getItem(TOKEN_KEY)) return;
    call(api.GET('/api/v1/me'))
      .then(setMe)
      .catch(() => logout())
      .finally(() => setChecking(false));
  }, [logout]);

  const login = useCallback(async (token: string) => {
    localStorage.setItem(TOKEN_KEY, token.trim());
    try {
      setMe(await call(api.GET('/api/v1/me')));
    } catch (e) {
      localStorage.removeItem(TOKEN_KEY);
      throw e;
    }
  }, []);

  const value = useMemo<Auth>(
    () => ({ me, canMutate: me?.role === 'admin' || me?.role === 'operator', login, logout }),
    [me, login, logout],
  );
  if (checking) return null;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}
