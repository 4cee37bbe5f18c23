// Who is signed in. The token lives in localStorage (the console is a
// static bundle with no session of its own); GET /me resolves it to a name
// and a role, and the role decides which buttons exist.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Button, Result } from 'antd';
import { useTranslation } from 'react-i18next';
import { api, ApiError, call, setUnauthorizedHandler, TOKEN_KEY, type Me } from './api/client';

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

  // Why the saved token could not be checked yet, when the API did not
  // answer (busy, restarting, unreachable): only a 401 signs the user out.
  const [unreachable, setUnreachable] = useState<string | null>(null);

  useEffect(() => {
    setUnauthorizedHandler(logout);
    if (!localStorage.getItem(TOKEN_KEY)) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = () => {
      call(api.GET('/api/v1/me'))
        .then((m) => {
          if (stopped) return;
          setMe(m);
          setUnreachable(null);
          setChecking(false);
        })
        .catch((e: unknown) => {
          if (stopped) return;
          if (e instanceof ApiError && e.status === 401) {
            logout();
            setChecking(false);
            return;
          }
          setUnreachable(e instanceof Error ? e.message : String(e));
          timer = setTimeout(check, 3000);
        });
    };
    check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
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
  if (checking && unreachable !== null) return <Unreachable message={unreachable} onLogout={() => { logout(); setChecking(false); }} />;
  if (checking) return null;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}

function Unreachable({ message, onLogout }: { message: string; onLogout(): void }) {
  const { t } = useTranslation();
  return (
    <Result status="warning" title={t('login.unreachable')} subTitle={t('login.retrying', { message })}
      extra={<Button onClick={onLogout}>{t('app.logout')}</Button>} />
  );
}
