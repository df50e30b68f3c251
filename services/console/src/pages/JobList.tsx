import { useEffect, useState } from 'react';
import { accessToken, api, ApiError, type Job, type Page } from '../api';
import { Link } from '../router';

/** Polling interval when server-sent events are not available. */
const POLL_MS = 2000;

function merge(jobs: Job[], j: Job): Job[] {
  const rest = jobs.filter((x) => x.id !== j.id);
  return [j, ...rest].sort((a, b) => b.scheduled.localeCompare(a.scheduled)).slice(0, 50);
}

export function JobList() {
  const [jobs, setJobs] = useState<Job[]>();
  const [error, setError] = useState<string>();
  const [live, setLive] = useState<'connecting' | 'live' | 'polling'>('connecting');
  const highlight = new URLSearchParams(window.location.search).get('highlight');

  useEffect(() => {
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let source: EventSource | undefined;
    let failures = 0;
    const load = async () => {
      try {
        const p = await api<Page<Job>>('GET', '/api/jobs?size=50');
        if (!active) return;
        setJobs(p.items);
        setError(undefined);
      } catch (e) {
        if (active) setError(e instanceof ApiError ? e.message : String(e));
      }
    };
    const poll = async () => {
      await load();
      if (active) timer = setTimeout(() => void poll(), POLL_MS);
    };
    // Live: GET /api/jobs/events (server-sent events); the token rides in the query (EventSource cannot
    // set headers). When the stream is refused (an expired token), one ordinary call refreshes the
    // token and the stream opens again; after three failures in a row the table polls instead.
    const connect = () => {
      const token = accessToken();
      if (typeof EventSource === 'undefined' || !token || failures >= 3) {
        setLive('polling');
        void poll();
        return;
      }
      source = new EventSource(`/api/jobs/events?access_token=${encodeURIComponent(token)}`);
      source.addEventListener('open', () => {
        failures = 0;
        setLive('live');
      });
      source.addEventListener('job', (e: MessageEvent<string>) => {
        const j = JSON.parse(e.data) as Job;
        setJobs((js) => merge(js ?? [], j));
      });
      source.addEventListener('error', () => {
        if (!active || !source || source.readyState !== EventSource.CLOSED) return;
        failures += 1;
        source.close();
        setLive('connecting');
        void load().then(() => active && connect());
      });
    };
    void load().then(() => active && connect());
    return () => {
      active = false;
      clearTimeout(timer);
      source?.close();
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
      <p className="hint" data-testid="live-mode">
        {live === 'live'
          ? 'Live: statuses update as they change.'
          : live === 'polling'
            ? `Refreshing every ${POLL_MS / 1000} seconds.`
            : 'Connecting…'}
      </p>
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
                  {/* The visible short id starts the link's name (label in name), the rest is for screen readers. */}
                  <Link to={`/jobs/${j.id}`}>
                    {j.id.slice(0, 8)}
                    <span className="visually-hidden">: log of job {j.id}</span>
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
