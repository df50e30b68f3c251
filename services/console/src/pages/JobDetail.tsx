import { useEffect, useRef, useState } from 'react';
import { api, ApiError, followLog, request, TERMINAL, type Job } from '../api';
import { Link } from '../router';

export function JobDetail({ id }: { id: string }) {
  const [job, setJob] = useState<Job>();
  const [log, setLog] = useState('');
  const [following, setFollowing] = useState(false);
  const [error, setError] = useState<string>();
  const logRef = useRef<HTMLPreElement>(null);
  const [autoScroll, setAutoScroll] = useState(true);

  // The status: asked again every 2 s until it is terminal.
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const j = await api<Job>('GET', `/api/jobs/${encodeURIComponent(id)}`);
        if (!live) return;
        setJob(j);
        if (TERMINAL.includes(j.status)) return;
      } catch (e) {
        if (live) setError(e instanceof ApiError ? e.message : String(e));
      }
      if (live) timer = setTimeout(() => void load(), 2000);
    };
    void load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [id]);

  // The log: one streaming request that stays open while the job runs (?follow=true).
  useEffect(() => {
    const ctl = new AbortController();
    setLog('');
    setFollowing(true);
    followLog(id, (chunk) => setLog((l) => l + chunk), ctl.signal)
      .catch((e: unknown) => {
        if (!ctl.signal.aborted) setError(e instanceof ApiError ? e.message : String(e));
      })
      .finally(() => {
        if (!ctl.signal.aborted) setFollowing(false);
      });
    return () => ctl.abort();
  }, [id]);

  useEffect(() => {
    if (autoScroll && logRef.current) logRef.current.scrollTop = logRef.current.scrollHeight;
  }, [log, autoScroll]);

  const cancel = async () => {
    try {
      await request(`/api/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <>
      <h1>Job {id.slice(0, 8)}</h1>
      <p>
        <Link to="/jobs">Back to jobs</Link>
      </p>
      <p role="alert" className="error">
        {error}
      </p>
      {job && (
        <dl className="facts">
          <dt>Configuration</dt>
          <dd>
            <Link to={`/configs/${job.jobConfig.id}`}>{job.jobConfig.name}</Link>
          </dd>
          <dt>Status</dt>
          <dd>
            <span
              className={`badge ${job.status.toLowerCase()}`}
              role="status"
              aria-live="polite"
              data-testid="job-detail-status"
            >
              {job.status}
            </span>
          </dd>
          <dt>Started</dt>
          <dd>{job.started ? new Date(job.started).toLocaleString() : '—'}</dd>
          <dt>Finished</dt>
          <dd>{job.finished ? new Date(job.finished).toLocaleString() : '—'}</dd>
          <dt>Return code</dt>
          <dd>{job.returnCode ?? '—'}</dd>
        </dl>
      )}
      {job && !TERMINAL.includes(job.status) && (
        <button type="button" onClick={() => void cancel()}>
          Cancel job
        </button>
      )}
      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Log {following && <span className="hint">(following)</span>}</h2>
        <div className="check">
          <input
            id="autoscroll"
            type="checkbox"
            checked={autoScroll}
            onChange={(e) => setAutoScroll(e.target.checked)}
          />
          <label htmlFor="autoscroll">Scroll to the newest line</label>
        </div>
        <pre className="log" ref={logRef} tabIndex={0} aria-label="Job log" data-testid="job-log">
          {log || (following ? 'Waiting for output…' : '(empty)')}
        </pre>
      </section>
    </>
  );
}
