import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError, type JobConfig, type Page } from '../api';
import { Link, navigate } from '../router';

export function ConfigList() {
  const [configs, setConfigs] = useState<JobConfig[]>();
  const [error, setError] = useState<string>();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');

  useEffect(() => {
    api<Page<JobConfig>>('GET', '/api/jobconfigs?size=200&sortby=name&direction=asc').then(
      (p) => setConfigs(p.items),
      (e: unknown) => setError(e instanceof ApiError ? e.message : String(e)),
    );
  }, []);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const c = await api<JobConfig>('POST', '/api/jobconfigs', {
        active: true,
        name,
        description: description || null,
      });
      navigate(`/configs/${c.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };

  return (
    <>
      <h1>Configurations</h1>
      <p role="alert" className="error">
        {error}
      </p>
      <section aria-labelledby="new-config">
        <h2 id="new-config">New configuration</h2>
        <form className="inline" onSubmit={(e) => void create(e)}>
          <div>
            <label htmlFor="new-name">Name</label>
            <input id="new-name" required value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div>
            <label htmlFor="new-description">Description</label>
            <input
              id="new-description"
              value={description}
              onChange={(e) => setDescription(e.target.value)}
            />
          </div>
          <button type="submit">Create configuration</button>
        </form>
      </section>
      <section aria-labelledby="all-configs">
        <h2 id="all-configs">All configurations</h2>
        {configs === undefined ? (
          <p>Loading…</p>
        ) : configs.length === 0 ? (
          <p>No configurations yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Package</th>
                <th scope="col">Entry point</th>
                <th scope="col">Active</th>
              </tr>
            </thead>
            <tbody>
              {configs.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={`/configs/${c.id}`}>{c.name}</Link>
                  </td>
                  <td>{c.runtimeConfig.packageName ?? '—'}</td>
                  <td>{c.runtimeConfig.entryPoint ?? '—'}</td>
                  <td>{c.active ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
