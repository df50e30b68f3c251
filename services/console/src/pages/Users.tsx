import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, currentUser, type Page, type User } from '../api';

export function Users() {
  const [users, setUsers] = useState<User[]>();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const me = currentUser()?.sub;

  const fail = (e: unknown) => setError(e instanceof ApiError ? e.message : String(e));
  const load = useCallback(
    () => api<Page<User>>('GET', '/api/users?size=500').then((p) => setUsers(p.items), fail),
    [],
  );
  useEffect(() => {
    void load();
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('POST', '/api/users', { name, password, roles: [admin ? 'admin' : 'user'] });
      setStatus(`User ${name} created.`);
      setName('');
      setPassword('');
      setAdmin(false);
      await load();
    } catch (err) {
      fail(err);
    }
  };

  const update = async (u: User, patch: Partial<User>, what: string) => {
    setError(undefined);
    try {
      await api('PUT', `/api/users/${u.id}`, patch);
      setStatus(`${u.name} ${what}.`);
      await load();
    } catch (err) {
      fail(err);
    }
  };

  return (
    <>
      <h1>Users</h1>
      <p role="alert" className="error">
        {error}
      </p>
      <p role="status" className="status">
        {status}
      </p>
      <section aria-labelledby="new-user">
        <h2 id="new-user">New user</h2>
        <form className="inline" onSubmit={(e) => void create(e)}>
          <div>
            <label htmlFor="user-name">User name</label>
            <input id="user-name" required value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div>
            <label htmlFor="user-password">Password (at least 12 characters)</label>
            <input
              id="user-password"
              type="password"
              autoComplete="new-password"
              required
              minLength={12}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <div className="check">
            <input
              id="user-admin"
              type="checkbox"
              checked={admin}
              onChange={(e) => setAdmin(e.target.checked)}
            />
            <label htmlFor="user-admin">Administrator</label>
          </div>
          <button type="submit">Create user</button>
        </form>
      </section>
      <section aria-labelledby="all-users">
        <h2 id="all-users">Users of this account</h2>
        {users === undefined ? (
          <p>Loading…</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Full name</th>
                <th scope="col">Roles</th>
                <th scope="col">Active</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td>{u.name}</td>
                  <td>{u.fullName ?? '—'}</td>
                  <td>{u.roles.join(', ')}</td>
                  <td>{u.active ? 'yes' : 'no'}</td>
                  <td>
                    {u.id !== me && (
                      <>
                        <button
                          type="button"
                          onClick={() =>
                            void update(u, { active: !u.active }, u.active ? 'deactivated' : 'activated')
                          }
                        >
                          {u.active ? 'Deactivate' : 'Activate'}{' '}
                          <span className="visually-hidden">{u.name}</span>
                        </button>{' '}
                        <button
                          type="button"
                          onClick={() =>
                            void update(
                              u,
                              { roles: u.roles.includes('admin') ? ['user'] : ['admin'] },
                              u.roles.includes('admin')
                                ? 'is no longer an administrator'
                                : 'is an administrator',
                            )
                          }
                        >
                          {u.roles.includes('admin') ? 'Revoke admin' : 'Make admin'}{' '}
                          <span className="visually-hidden">{u.name}</span>
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
