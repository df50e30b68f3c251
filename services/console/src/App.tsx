import { useEffect, useRef, useSyncExternalStore } from 'react';
import { currentUser, isLoggedIn, logout, onAuthChange } from './api';
import { ConfigDetail } from './pages/ConfigDetail';
import { ConfigList } from './pages/ConfigList';
import { JobDetail } from './pages/JobDetail';
import { JobList } from './pages/JobList';
import { Login } from './pages/Login';
import { Users } from './pages/Users';
import { Link, usePath } from './router';

export function App() {
  const loggedIn = useSyncExternalStore(onAuthChange, isLoggedIn);
  const path = usePath();
  const mainRef = useRef<HTMLElement>(null);

  // Move focus to the new page's heading on navigation, so keyboard and screen-reader users land there.
  useEffect(() => {
    const h = mainRef.current?.querySelector('h1');
    if (h instanceof HTMLElement) {
      h.tabIndex = -1;
      h.focus();
    }
  }, [path, loggedIn]);

  if (!loggedIn) {
    return (
      <main ref={mainRef} className="login-main">
        <Login />
      </main>
    );
  }
  const user = currentUser();
  const isAdmin = user?.roles.includes('admin') ?? false;
  const section = path.split('/')[1] ?? '';

  let page;
  let m: RegExpExecArray | null;
  if ((m = /^\/configs\/([^/]+)$/.exec(path))) page = <ConfigDetail id={decodeURIComponent(m[1] ?? '')} />;
  else if ((m = /^\/jobs\/([^/]+)$/.exec(path))) page = <JobDetail id={decodeURIComponent(m[1] ?? '')} />;
  else if (path === '/jobs') page = <JobList />;
  else if (path === '/users' && isAdmin) page = <Users />;
  else page = <ConfigList />;

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">integration-manager</span>
        <nav aria-label="Main">
          <ul>
            <li>
              <Link to="/" aria-current={section === '' || section === 'configs' ? 'page' : undefined}>
                Configurations
              </Link>
            </li>
            <li>
              <Link to="/jobs" aria-current={section === 'jobs' ? 'page' : undefined}>
                Jobs
              </Link>
            </li>
            {isAdmin && (
              <li>
                <Link to="/users" aria-current={section === 'users' ? 'page' : undefined}>
                  Users
                </Link>
              </li>
            )}
          </ul>
        </nav>
        <span className="who">Signed in as {user?.name}</span>
        <button type="button" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <main id="main" ref={mainRef}>
        {page}
      </main>
    </>
  );
}
