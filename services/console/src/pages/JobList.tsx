import { useEffect, useState } from 'react';
import { api, ApiError, type Job, type Page } from '../api';
import { Link } from '../router';

/** How often the table asks for fresh statuses. */
const POLL_MS = 2000;

export function JobList() {
  const [jobs, setJobs] = useState<Job[]>();
  const [error, setError] = useState<string>();
  const highlight = new URLSearchParams(window.location.search).get('highlight');

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const p = await api<Page<Job>>('GET', '/api/jobs?size=50');
        if (!live) return;
        setJobs(p.items);
        setError(undefined);
      } catch (e) {
        if (live) setError(e instanceof ApiError ? e.message : String(e));
      }
      if (live) timer = setTimeout(() => void load(), POLL_MS);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);

  const watched = jobs?.find((j) => j.id === highlight);

  return (
    <>
      <h1>Jobs</h1>
      <p role="alert" className="error">
        {error}
      </p>
      <p role="status" aria-live="polite" className="status">
        {watched ? `Job of ${watched.jobConfig.name}: ${watched.status}` : ''}
      </p>
      <p className="hint">The table refreshes every {POLL_MS / 1000} seconds.</p>
      {jobs === undefined ? (
        <p>Loading…</p>
      ) : jobs.length === 0 ? (
        <p>No jobs yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Configuration</th>
              <th scope="col">Status</th>
              <th scope="col">Scheduled</th>
              <th scope="col">Finished</th>
              <th scope="col">Submitted by</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} className={j.id === highlight ? 'highlight' : undefined} data-job-id={j.id}>
                <td>
                  <Link to={`/jobs/${j.id}`} aria-label={`Log of job ${j.id}`}>
                    {j.id.slice(0, 8)}
                  </Link>
                </td>
                <td>{j.jobConfig.name}</td>
                <td>
                  <span className={`badge ${j.status.toLowerCase()}`} data-testid="job-status">
                    {j.status}
                  </span>
                </td>
                <td>{new Date(j.scheduled).toLocaleString()}</td>
                <td>{j.finished ? new Date(j.finished).toLocaleString() : '—'}</td>
                <td>{j.submittedByUser?.name ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
