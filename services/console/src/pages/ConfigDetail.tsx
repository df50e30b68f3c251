import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import {
  api,
  ApiError,
  upload,
  type FileItem,
  type JobConfig,
  type Job,
  type Macro,
  type Page,
} from '../api';
import { navigate } from '../router';

interface MacroRow extends Macro {
  /** A secure macro already stored: its value is never shown; left empty it keeps the stored one. */
  stored: boolean;
}

const LOG_LEVELS = ['', 'SEVERE', 'WARNING', 'INFO', 'DEBUG'];

export function ConfigDetail({ id }: { id: string }) {
  const [config, setConfig] = useState<JobConfig>();
  const [files, setFiles] = useState<FileItem[]>([]);
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [active, setActive] = useState(true);
  const [packageName, setPackageName] = useState('');
  const [entryPoint, setEntryPoint] = useState('');
  const [logLevel, setLogLevel] = useState('');
  const [macros, setMacros] = useState<MacroRow[]>([]);
  const [entryPoints, setEntryPoints] = useState<string[]>([]);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<string>();
  const [progress, setProgress] = useState<{ name: string; loaded: number; total: number; done?: boolean }>();
  const [dragOver, setDragOver] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  const fail = (e: unknown) => setError(e instanceof ApiError ? e.message : String(e));

  const loadFiles = useCallback(
    () =>
      api<Page<FileItem>>('GET', `/api/jobconfigs/${id}/files?size=500`).then((p) => setFiles(p.items), fail),
    [id],
  );

  useEffect(() => {
    api<JobConfig>('GET', `/api/jobconfigs/${id}`).then((c) => {
      setConfig(c);
      setName(c.name);
      setDescription(c.description ?? '');
      setActive(c.active);
      setPackageName(c.runtimeConfig.packageName ?? '');
      setEntryPoint(c.runtimeConfig.entryPoint ?? '');
      setLogLevel(c.runtimeConfig.logLevel ?? '');
      setMacros((c.runtimeConfig.macros ?? []).map((m) => ({ ...m, stored: m.secure })));
    }, fail);
    void loadFiles();
  }, [id, loadFiles]);

  // The entry-point picker follows the package picker.
  useEffect(() => {
    if (!packageName) {
      setEntryPoints([]);
      return;
    }
    let live = true;
    api<{ entryPoints: string[] }>(
      'GET',
      `/api/jobconfigs/${id}/files/entrypoints/${encodeURIComponent(packageName)}`,
    ).then(
      (r) => live && setEntryPoints(r.entryPoints),
      (e: unknown) => {
        if (!live) return;
        setEntryPoints([]);
        fail(e);
      },
    );
    return () => {
      live = false;
    };
  }, [id, packageName]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setStatus('Saving…');
    try {
      const c = await api<JobConfig>('PATCH', `/api/jobconfigs/${id}`, {
        name,
        description: description || null,
        active,
        runtimeConfig: {
          packageName: packageName || null,
          entryPoint: entryPoint || null,
          logLevel: logLevel || null,
          macros: macros.map(({ key, value, secure, description: d }) => ({
            key,
            // An empty value of a stored secure macro is left out: the server keeps the secret.
            ...(secure && !value ? {} : { value: value ?? '' }),
            secure,
            description: d || null,
          })),
        },
      });
      setConfig(c);
      setMacros((c.runtimeConfig.macros ?? []).map((m) => ({ ...m, stored: m.secure })));
      setStatus('Saved.');
    } catch (err) {
      setStatus('');
      fail(err);
    }
  };

  const run = async () => {
    setError(undefined);
    try {
      const job = await api<Job>('POST', `/api/jobconfigs/${id}/jobs`);
      setStatus(`Job ${job.id} queued.`);
      navigate(`/jobs?highlight=${job.id}`);
    } catch (err) {
      fail(err);
    }
  };

  const uploadFiles = async (list: FileList | null) => {
    if (!list || list.length === 0) return;
    setError(undefined);
    for (const file of Array.from(list)) {
      setProgress({ name: file.name, loaded: 0, total: file.size });
      try {
        await upload(id, file, (loaded, total) => setProgress({ name: file.name, loaded, total }));
        setProgress({ name: file.name, loaded: file.size, total: file.size, done: true });
        setStatus(`Uploaded ${file.name}.`);
      } catch (err) {
        setProgress(undefined);
        fail(err);
      }
    }
    if (fileInput.current) fileInput.current.value = '';
    await loadFiles();
  };

  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragOver(false);
    void uploadFiles(e.dataTransfer.files);
  };

  const setMacro = (i: number, patch: Partial<MacroRow>) =>
    setMacros((ms) => ms.map((m, j) => (j === i ? { ...m, ...patch } : m)));

  if (!config) {
    return (
      <>
        <h1>Configuration</h1>
        <p role="alert" className="error">
          {error}
        </p>
        {!error && <p>Loading…</p>}
      </>
    );
  }

  const pct =
    progress && progress.total > 0 ? Math.min(100, Math.round((progress.loaded / progress.total) * 100)) : 0;

  return (
    <>
      <h1>Configuration: {config.name}</h1>
      <p role="alert" className="error">
        {error}
      </p>
      <p role="status" className="status">
        {status}
      </p>
      <div className="columns">
        <form className="card" onSubmit={(e) => void save(e)} aria-labelledby="settings">
          <h2 id="settings">Settings</h2>
          <label htmlFor="cfg-name">Name</label>
          <input id="cfg-name" required value={name} onChange={(e) => setName(e.target.value)} />
          <label htmlFor="cfg-description">Description</label>
          <input id="cfg-description" value={description} onChange={(e) => setDescription(e.target.value)} />
          <div className="check">
            <input
              id="cfg-active"
              type="checkbox"
              checked={active}
              onChange={(e) => setActive(e.target.checked)}
            />
            <label htmlFor="cfg-active">Active</label>
          </div>
          <label htmlFor="cfg-package">Package</label>
          <select
            id="cfg-package"
            value={packageName}
            onChange={(e) => {
              setPackageName(e.target.value);
              setEntryPoint('');
            }}
          >
            <option value="">(none)</option>
            {files.map((f) => (
              <option key={f.name} value={f.name}>
                {f.name}
              </option>
            ))}
          </select>
          <label htmlFor="cfg-entry">Entry point</label>
          <select
            id="cfg-entry"
            value={entryPoint}
            disabled={entryPoints.length === 0}
            onChange={(e) => setEntryPoint(e.target.value)}
          >
            <option value="">(none)</option>
            {entryPoints.map((ep) => (
              <option key={ep} value={ep}>
                {ep}
              </option>
            ))}
            {entryPoint && !entryPoints.includes(entryPoint) && (
              <option value={entryPoint}>{entryPoint}</option>
            )}
          </select>
          <label htmlFor="cfg-loglevel">Log level</label>
          <select id="cfg-loglevel" value={logLevel} onChange={(e) => setLogLevel(e.target.value)}>
            {LOG_LEVELS.map((l) => (
              <option key={l} value={l}>
                {l || '(default)'}
              </option>
            ))}
          </select>

          <fieldset>
            <legend>Macros</legend>
            {macros.length === 0 && <p>No macros.</p>}
            {macros.map((m, i) => (
              <div className="macro" key={i}>
                <div>
                  <label htmlFor={`macro-key-${i}`}>Key</label>
                  <input
                    id={`macro-key-${i}`}
                    required
                    value={m.key}
                    onChange={(e) => setMacro(i, { key: e.target.value })}
                  />
                </div>
                <div>
                  <label htmlFor={`macro-value-${i}`}>Value</label>
                  <input
                    id={`macro-value-${i}`}
                    type={m.secure ? 'password' : 'text'}
                    autoComplete="off"
                    placeholder={m.secure && m.stored ? '•••••• (unchanged)' : ''}
                    value={m.value ?? ''}
                    onChange={(e) => setMacro(i, { value: e.target.value })}
                  />
                </div>
                <div>
                  <label htmlFor={`macro-description-${i}`}>Description</label>
                  <input
                    id={`macro-description-${i}`}
                    value={m.description ?? ''}
                    onChange={(e) => setMacro(i, { description: e.target.value })}
                  />
                </div>
                <div className="check">
                  <input
                    id={`macro-secure-${i}`}
                    type="checkbox"
                    checked={m.secure}
                    onChange={(e) => setMacro(i, { secure: e.target.checked })}
                  />
                  <label htmlFor={`macro-secure-${i}`}>Secure</label>
                </div>
                <button
                  type="button"
                  aria-label={`Remove macro ${m.key || i + 1}`}
                  onClick={() => setMacros((ms) => ms.filter((_, j) => j !== i))}
                >
                  Remove
                </button>
              </div>
            ))}
            <button
              type="button"
              onClick={() => setMacros((ms) => [...ms, { key: '', value: '', secure: false, stored: false }])}
            >
              Add macro
            </button>
          </fieldset>
          <div className="actions">
            <button type="submit">Save</button>
            <button type="button" onClick={() => void run()} disabled={!config.runtimeConfig.entryPoint}>
              Run
            </button>
          </div>
          {!config.runtimeConfig.entryPoint && (
            <p className="hint">Save a package and an entry point to run this configuration.</p>
          )}
        </form>

        <section className="card" aria-labelledby="files">
          <h2 id="files">Files</h2>
          <div
            className={`dropzone${dragOver ? ' over' : ''}`}
            data-testid="dropzone"
            onDragOver={(e) => {
              e.preventDefault();
              setDragOver(true);
            }}
            onDragLeave={() => setDragOver(false)}
            onDrop={onDrop}
          >
            <label htmlFor="file-input">
              Drop a package or file here, or <span className="linkish">choose files</span>
            </label>
            <input
              id="file-input"
              ref={fileInput}
              className="visually-hidden-input"
              type="file"
              multiple
              onChange={(e) => void uploadFiles(e.target.files)}
            />
          </div>
          {progress && (
            <div className="progress">
              <label htmlFor="upload-progress">
                {progress.done ? 'Uploaded' : 'Uploading'} {progress.name}: {progress.done ? 100 : pct}%
              </label>
              <progress id="upload-progress" max={100} value={progress.done ? 100 : pct}>
                {pct}%
              </progress>
            </div>
          )}
          {files.length === 0 ? (
            <p>No files attached.</p>
          ) : (
            <table>
              <caption className="visually-hidden">Attached files</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Size</th>
                </tr>
              </thead>
              <tbody>
                {files.map((f) => (
                  <tr key={f.name}>
                    <td>{f.name}</td>
                    <td>{f.metadata.size.toLocaleString()} bytes</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
    </>
  );
}
